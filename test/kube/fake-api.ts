/**
 * An in-process fake of the Kubernetes API server on loopback, serving list and watch
 * for the resources dnsgate reads (and single objects, such as a group's discovery
 * document): no API server can run on this machine. dnsgate's client side is the real one.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import { freePort } from '../helpers/net.js';

export type KubeObject = { metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> }; [key: string]: unknown };

/** Serves lists and streams watch events of a few collections. */
export class FakeApiServer {
  private readonly collections = new Map<string, KubeObject[]>();
  private readonly watchers = new Map<string, ServerResponse[]>();
  private readonly singles = new Map<string, unknown>();
  private version = 100;
  readonly requests: string[] = [];
  server: Server | undefined;
  url = '';

  set(path: string, items: KubeObject[]): void {
    this.collections.set(path, items);
  }

  setSingle(path: string, object: unknown): void {
    this.singles.set(path, object);
  }

  /** Applies an event to a collection and streams it to its watchers. */
  event(path: string, type: 'ADDED' | 'MODIFIED' | 'DELETED', object: KubeObject): void {
    const items = (this.collections.get(path) ?? []).filter((item) => !(item.metadata.name === object.metadata.name && item.metadata.namespace === object.metadata.namespace));
    if (type !== 'DELETED') items.push(object);
    this.collections.set(path, items);
    const versioned = { ...object, metadata: { ...object.metadata, resourceVersion: String(++this.version) } };
    for (const watcher of this.watchers.get(path) ?? []) watcher.write(`${JSON.stringify({ type, object: versioned })}\n`);
  }

  watching(path: string): number {
    return this.watchers.get(path)?.length ?? 0;
  }

  async start(address: string): Promise<void> {
    this.server = createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://fake');
      this.requests.push(url.pathname + url.search);
      const single = this.singles.get(url.pathname);
      if (single !== undefined) {
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(single));
        return;
      }
      const items = this.collections.get(url.pathname);
      if (items === undefined) {
        response.writeHead(404).end('{"kind":"Status","code":404}');
        return;
      }
      if (url.searchParams.get('watch') === '1') {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.flushHeaders();
        const list = this.watchers.get(url.pathname) ?? [];
        list.push(response);
        this.watchers.set(url.pathname, list);
        request.on('close', () => list.splice(list.indexOf(response), 1));
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ metadata: { resourceVersion: String(this.version) }, items }));
    });
    const port = await freePort(address);
    await new Promise<void>((resolve) => this.server!.listen(port, address, resolve));
    this.url = `http://${address}:${port}`;
  }

  stop(): Promise<void> {
    for (const list of this.watchers.values()) for (const watcher of list) watcher.destroy();
    return new Promise((resolve) => {
      this.server?.closeAllConnections();
      this.server?.close(() => resolve());
    });
  }
}

