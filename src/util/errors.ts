/** The two kinds of error text every stage words the same way. */

/** A problem the user must fix, already worded as the one line to print: start-up stops with exit code 2. */
export class ConfigError extends Error {}

/** What went wrong, in one word when the system gave one (`ENOENT`), else the error's message. */
export function errorText(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message ?? String(error);
}

/** An address given by `flag` that cannot be bound, as the one line to print. */
export function bindError(flag: string, endpoint: { host: string; port: number }, error: unknown): ConfigError {
  return new ConfigError(`${flag} ${endpoint.host}:${endpoint.port}: cannot bind (${errorText(error)})`);
}
