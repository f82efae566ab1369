/** The admin HTTP server: health, readiness, metrics and the JSON API routes. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Endpoint } from '../net/address.js';
import type { Metrics } from './metrics.js';
import type { Readiness } from './readiness.js';

export interface JsonReply {
  status: number;
  body: unknown;
}

/** A GET route answering JSON from the query parameters. */
export type JsonRoute = (params: URLSearchParams) => JsonReply;

export class AdminServer {
  private readonly server: Server;
  private readonly routes = new Map<string, JsonRoute>();

  constructor(
    private readonly endpoint: Endpoint,
    private readonly metrics: Metrics,
    private readonly readiness: Readiness,
  ) {
    this.server = createServer((request, response) => {
      this.handle(request, response).catch((error: Error) => send(response, 500, 'application/json', JSON.stringify({ error: error.message })));
    });
  }

  addRoute(path: string, route: JsonRoute): void {
    this.routes.set(path, route);
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://admin');
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      send(response, 405, 'application/json', JSON.stringify({ error: 'only GET is supported' }));
      return;
    }
    switch (url.pathname) {
      case '/healthz':
        send(response, 200, 'text/plain', 'ok\n');
        return;
      case '/readyz':
        if (this.readiness.ready) send(response, 200, 'application/json', JSON.stringify({ ready: true }));
        else send(response, 503, 'application/json', JSON.stringify({ ready: false, reason: this.readiness.reasons().join('; ') }));
        return;
      case '/metrics':
        send(response, 200, this.metrics.registry.contentType, await this.metrics.registry.metrics());
        return;
    }
    const route = this.routes.get(url.pathname);
    if (!route) {
      send(response, 404, 'application/json', JSON.stringify({ error: `no route ${url.pathname}` }));
      return;
    }
    const reply = route(url.searchParams);
    send(response, reply.status, 'application/json', JSON.stringify(reply.body));
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.endpoint.port, this.endpoint.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  get port(): number {
    const address = this.server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

function send(response: ServerResponse, status: number, contentType: string, body: string): void {
  response.writeHead(status, { 'content-type': contentType });
  response.end(body);
}
