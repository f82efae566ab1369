/**
 * A small Kubernetes API client over undici: list and watch, with the in-cluster
 * service-account credentials. DNSGATE_KUBE_API overrides the address (for example
 * `http://127.0.0.1:8001` behind `kubectl proxy`), and then no credentials are sent.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as Undici from 'undici';
import { ConfigError } from '../util/errors.js';
import { ownStrings } from '../util/own-strings.js';

/**
 * undici is loaded when the first client is made, not with dnsgate: loading it costs
 * about 9 MB of RSS (4 MB of heap), which a dnsgate that reads its pods from a file (a
 * sidecar, one per pod) never needs.
 */
let undiciModule: typeof Undici | undefined;
function undici(): typeof Undici {
  return (undiciModule ??= createRequire(import.meta.url)('undici') as typeof Undici);
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; uid?: string };
  [field: string]: unknown;
}

export interface KubeList<T extends KubeObject> {
  metadata: { resourceVersion?: string };
  items: T[];
}

export interface WatchEvent<T extends KubeObject> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export class KubeError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class KubeClient {
  private constructor(
    readonly baseUrl: string,
    private readonly dispatcher: Undici.Dispatcher,
    private readonly tokenFile: string | undefined,
  ) {}

  /** The API this process can reach, or a ConfigError saying why there is none. */
  static fromEnvironment(env: NodeJS.ProcessEnv = process.env): KubeClient {
    const override = env.DNSGATE_KUBE_API;
    if (override) return new KubeClient(override.replace(/\/$/, ''), new (undici().Agent)(), undefined);
    const host = env.KUBERNETES_SERVICE_HOST;
    const port = env.KUBERNETES_SERVICE_PORT ?? '443';
    if (!host) throw new ConfigError('--kubernetes: not running in a cluster (KUBERNETES_SERVICE_HOST unset) and DNSGATE_KUBE_API not set');
    let ca: string;
    try {
      ca = readFileSync(`${SERVICE_ACCOUNT_DIR}/ca.crt`, 'utf8');
    } catch (error) {
      throw new ConfigError(`--kubernetes: cannot read ${SERVICE_ACCOUNT_DIR}/ca.crt (${(error as NodeJS.ErrnoException).code})`);
    }
    const hostPart = host.includes(':') ? `[${host}]` : host;
    return new KubeClient(`https://${hostPart}:${port}`, new (undici().Agent)({ connect: { ca } }), `${SERVICE_ACCOUNT_DIR}/token`);
  }

  /** Bound service-account tokens rotate, so the file is read for every request. */
  private headers(): Record<string, string> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.tokenFile) headers.authorization = `Bearer ${readFileSync(this.tokenFile, 'utf8').trim()}`;
    return headers;
  }

  async get<T>(path: string, signal?: AbortSignal): Promise<T> {
    const response = await undici().request(`${this.baseUrl}${path}`, { dispatcher: this.dispatcher, headers: this.headers(), signal });
    const text = await response.body.text();
    if (response.statusCode !== 200) throw new KubeError(response.statusCode, `GET ${path}: ${response.statusCode} ${text.slice(0, 200)}`);
    return ownStrings(JSON.parse(text) as T);
  }

  /** Watch events of `path` from `resourceVersion`, until the server ends the stream or `signal` aborts. */
  async *watch<T extends KubeObject>(path: string, resourceVersion: string, signal: AbortSignal): AsyncGenerator<WatchEvent<T>> {
    const separator = path.includes('?') ? '&' : '?';
    const url = `${this.baseUrl}${path}${separator}watch=1&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(resourceVersion)}`;
    const response = await undici().request(url, { dispatcher: this.dispatcher, headers: this.headers(), signal, bodyTimeout: 0 });
    if (response.statusCode !== 200) {
      const text = await response.body.text();
      throw new KubeError(response.statusCode, `watch ${path}: ${response.statusCode} ${text.slice(0, 200)}`);
    }
    // Decoded as a stream: a character split between two chunks comes out whole.
    const decoder = new TextDecoder();
    let pending = '';
    for await (const chunk of response.body) {
      pending += decoder.decode(chunk as Buffer, { stream: true });
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline).trim();
        pending = pending.slice(newline + 1);
        if (line.length > 0) yield ownStrings(JSON.parse(line) as WatchEvent<T>);
      }
    }
  }

  close(): Promise<void> {
    return this.dispatcher.close();
  }
}
