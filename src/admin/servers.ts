/**
 * The admin listeners of `serve`: --admin (probes and metrics; the API when on loopback
 * or with --admin-token-file) and --admin-private (loopback, the API always).
 *
 * With --intercept, a taken admin port (a predecessor on the host network during an
 * upgrade) is served once it is free; until then the predecessor answers there, and
 * probes use --ready-file.
 */
import { readFile } from 'node:fs/promises';
import type { Config } from '../config/options.js';
import { isLoopback } from '../net/address.js';
import { bindError, ConfigError, errorText } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import type { Metrics } from './metrics.js';
import type { Readiness } from './readiness.js';
import { addApiRoutes, type ApiSources } from './routes.js';
import { AdminServer } from './server.js';

export type AdminConfig = Pick<Config, 'admin' | 'adminPrivate' | 'adminTokenFile' | 'intercept'>;

/** How often a taken admin port is tried again during a handover. */
const RETRY_MS = 1000;

export class AdminServers {
  /** The --admin server, once started. */
  admin: AdminServer | undefined;
  private adminPrivate: AdminServer | undefined;
  private readonly retries: NodeJS.Timeout[] = [];

  constructor(
    private readonly config: AdminConfig,
    private readonly metrics: Metrics,
    private readonly readiness: Readiness,
    private readonly sources: ApiSources,
    private readonly logger: Logger,
  ) {}

  /** Throws ConfigError for an unreadable token file or an address that cannot be bound. */
  async start(): Promise<void> {
    const { admin, adminPrivate, adminTokenFile } = this.config;
    if (admin) {
      const token = await readAdminToken(adminTokenFile);
      this.admin = new AdminServer(admin, this.metrics, this.readiness, { open: isLoopback(admin.host), token });
      addApiRoutes(this.admin, this.sources);
      await this.listen(this.admin, '--admin');
    }
    if (adminPrivate) {
      this.adminPrivate = new AdminServer(adminPrivate, this.metrics, this.readiness);
      addApiRoutes(this.adminPrivate, this.sources);
      await this.listen(this.adminPrivate, '--admin-private');
    }
  }

  private async listen(server: AdminServer, flag: string): Promise<void> {
    const endpoint = server.endpoint;
    try {
      await server.listen();
    } catch (error) {
      if (this.config.intercept.length === 0 || (error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw bindError(flag, endpoint, error);
      this.logger.info(`${flag} ${endpoint.host}:${endpoint.port} is taken (a predecessor still running?): serving it once it is free`);
      const retry = setInterval(() => {
        server.listen().then(() => {
          clearInterval(retry);
          this.logger.info(`admin server on ${endpoint.host}:${endpoint.port}`);
        }, () => undefined);
      }, RETRY_MS);
      this.retries.push(retry);
    }
  }

  /** A port still taken at stop is no longer waited for. */
  stopWaiting(): void {
    for (const retry of this.retries) clearInterval(retry);
  }

  async close(): Promise<void> {
    this.stopWaiting();
    await this.admin?.close();
    await this.adminPrivate?.close();
  }
}

/** The API token of --admin-token-file; a file that cannot be read, or is empty, stops start-up. */
async function readAdminToken(path: string | undefined): Promise<string | undefined> {
  if (path === undefined) return undefined;
  let token: string;
  try {
    token = (await readFile(path, 'utf8')).trim();
  } catch (error) {
    throw new ConfigError(`--admin-token-file ${path}: cannot read (${errorText(error)})`);
  }
  if (token === '') throw new ConfigError(`--admin-token-file ${path}: the file is empty`);
  return token;
}
