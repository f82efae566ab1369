/**
 * The admin HTTP server: health, readiness, metrics and the JSON API routes.
 *
 * Probes and metrics may be exposed on the node's address; the API reveals which pod
 * reaches what, so a listener serves it only when `api.open` (a loopback listener) or
 * to requests bearing `api.token`. The server holds at most MAX_CONNECTIONS
 * connections: a new one closes the oldest, so a flood of held connections can neither
 * exhaust file descriptors nor lock the kubelet's probes out. Headers must arrive
 * within HEADERS_TIMEOUT_MS.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Endpoint } from '../net/address.js';
import type { Metrics } from './metrics.js';
import type { Readiness } from './readiness.js';

export interface JsonReply {
  status: number;
  body: unknown;
}

/** A GET route answering JSON from the query parameters. */
export type JsonRoute = (params: URLSearchParams) => JsonReply | Promise<JsonReply>;

export interface ApiAccess {
  /** Serve the API to any request (a loopback listener). */
  open: boolean;
  /** Otherwise, serve it to requests with `Authorization: Bearer <token>`; without one, not at all. */
  token: string | undefined;
}

export const MAX_CONNECTIONS = 64;
const HEADERS_TIMEOUT_MS = 9_000;
/** How often Node checks the headers timeout: a slow client is closed within 10 s. */
const TIMEOUT_CHECK_MS = 1_000;

export class AdminServer {
  private readonly server: Server;
  private readonly routes = new Map<string, JsonRoute>();
  /** Open connections, oldest first. */
  private readonly connections = new Set<Socket>();
  private readonly tokenDigest: Buffer | undefined;

  constructor(
    readonly endpoint: Endpoint,
    private readonly metrics: Metrics,
    private readonly readiness: Readiness,
    private readonly api: ApiAccess = { open: true, token: undefined },
  ) {
    this.tokenDigest = api.token === undefined ? undefined : digest(api.token);
    this.server = createServer(
      { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: HEADERS_TIMEOUT_MS + TIMEOUT_CHECK_MS, connectionsCheckingInterval: TIMEOUT_CHECK_MS },
      (request, response) => {
        this.handle(request, response).catch((error: Error) => send(response, 500, 'application/json', JSON.stringify({ error: error.message })));
      },
    );
    this.server.on('connection', (socket: Socket) => this.accept(socket));
  }

  addRoute(path: string, route: JsonRoute): void {
    this.routes.set(path, route);
  }

  private accept(socket: Socket): void {
    if (this.connections.size >= MAX_CONNECTIONS) {
      const oldest = this.connections.values().next().value as Socket;
      this.connections.delete(oldest);
      oldest.destroy();
    }
    this.connections.add(socket);
    socket.once('close', () => this.connections.delete(socket));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(request.url ?? '/', 'http://admin');
    } catch {
      send(response, 400, 'application/json', JSON.stringify({ error: 'malformed request target' }));
      return;
    }
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
    if (!this.mayUseApi(request)) {
      const how = this.api.token === undefined ? 'use the --admin-private listener (loopback)' : 'send the --admin-token-file token as a bearer token';
      send(response, 403, 'application/json', JSON.stringify({ error: `${url.pathname} is not served on this listener: ${how}` }));
      return;
    }
    const reply = await route(url.searchParams);
    send(response, reply.status, 'application/json', JSON.stringify(reply.body));
  }

  private mayUseApi(request: IncomingMessage): boolean {
    if (this.api.open) return true;
    const header = request.headers.authorization;
    if (this.tokenDigest === undefined || header === undefined || !header.startsWith('Bearer ')) return false;
    return timingSafeEqual(digest(header.slice(7).trim()), this.tokenDigest);
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

/** Digests compare in constant time whatever the lengths. */
function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

function send(response: ServerResponse, status: number, contentType: string, body: string): void {
  response.writeHead(status, { 'content-type': contentType });
  response.end(body);
}
