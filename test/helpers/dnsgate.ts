/** Starts dnsgate for a test: in this process (to reach its internals) or as the real CLI. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { App, type AppOverrides } from '../../src/app.js';
import { loadConfigFile, parseFlagValues, resolveConfig } from '../../src/config/load.js';
import type { OptionName, RawValue } from '../../src/config/options.js';
import type { Logger } from '../../src/util/logger.js';
import { freePort } from './net.js';
import { HOST, type Place } from './netns.js';

export const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

/** Collects what dnsgate logs, for assertions. */
export class MemoryLogger implements Logger {
  readonly lines: string[] = [];
  info(message: string): void {
    this.lines.push(message);
  }
  error(message: string): void {
    this.lines.push(message);
  }
}

/** Turns `['--listen', 'x', '--upstream', 'y', '--kubernetes']` into commander-like raw values. */
function rawFlags(args: readonly string[]): { raw: Partial<Record<OptionName, RawValue | RawValue[]>>; config?: string } {
  const raw: Record<string, RawValue | RawValue[]> = {};
  let config: string | undefined;
  const repeatable = new Set(['listen', 'upstream', 'policies', 'intercept', 'clusterDomain']);
  for (let i = 0; i < args.length; i++) {
    const flag = args[i];
    if (!flag.startsWith('--')) throw new Error(`unexpected argument ${flag}`);
    const name = flag.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const next = args[i + 1];
    const value: RawValue = next === undefined || next.startsWith('--') ? true : (i++, next);
    if (name === 'config') config = String(value);
    else if (repeatable.has(name)) raw[name] = [...((raw[name] as RawValue[] | undefined) ?? []), value];
    else raw[name] = value;
  }
  return { raw: raw as Partial<Record<OptionName, RawValue | RawValue[]>>, config };
}

export interface RunningDnsgate {
  app: App;
  address: string;
  port: number;
  adminPort: number;
  logger: MemoryLogger;
  stop(): Promise<void>;
}

/**
 * dnsgate in this process, listening on `address` (one port for UDP and TCP) with its
 * admin server on an ephemeral port. `args` are serve flags.
 */
export async function startDnsgate(address: string, args: readonly string[], overrides: AppOverrides & { port?: number } = {}): Promise<RunningDnsgate> {
  const port = overrides.port ?? (await freePort(address));
  // DNS log records on stdout would mix with the test runner's output unless asked for.
  const quiet = args.includes('--log-stdout') ? [] : ['--log-stdout', 'false'];
  const { raw, config: configFile } = rawFlags(['--listen', `${address.includes(':') ? `[${address}]` : address}:${port}`, '--admin', '127.0.0.1:0', ...quiet, ...args]);
  const config = resolveConfig(parseFlagValues(raw), configFile ? loadConfigFile(configFile) : {});
  const logger = new MemoryLogger();
  const app = new App(config, logger, overrides);
  await app.start();
  return { app, address, port, adminPort: app.admin?.port ?? 0, logger, stop: () => app.stop() };
}

export interface DnsgateProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string>;
}

/** The real `dnsgate` CLI as a child process, on the host unless `place` says otherwise; `nodeFlags` go to node before the script. */
export function spawnDnsgate(args: readonly string[], place: Place = HOST, env: NodeJS.ProcessEnv = process.env, nodeFlags: readonly string[] = []): DnsgateProcess {
  const child = spawn(...place.command(process.execPath, [...nodeFlags, CLI, ...args]), { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Waits until `predicate` holds, polling every 20 ms, up to `timeoutMs`. */
export async function waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** dnsgate exited, or never became ready, before `/readyz` answered 200. */
export class DnsgateStartError extends Error {
  constructor(
    /** The exit code (2 for a usage or configuration error), or undefined when it did not exit by itself. */
    readonly exitCode: number | string | undefined,
    readonly stderr: string,
    reason: string,
  ) {
    super(`${reason}: ${stderr}`);
  }
}

/** Spawns the CLI and waits for its admin `/readyz` to answer 200; kills it when that fails. */
export async function spawnReadyDnsgate(
  address: string,
  args: readonly string[],
  place: Place = HOST,
  nodeFlags: readonly string[] = [],
): Promise<DnsgateProcess & { port: number; adminPort: number }> {
  const port = await freePort(address);
  const adminPort = await freePort('127.0.0.1');
  const proc = spawnDnsgate(['serve', '--listen', `${address}:${port}`, '--admin', `127.0.0.1:${adminPort}`, ...args], place, process.env, nodeFlags);
  let exitCode: number | string | undefined;
  void proc.exited.then((code) => (exitCode = code));
  try {
    await waitFor(async () => {
      if (exitCode !== undefined) throw new DnsgateStartError(exitCode, proc.stderr(), `dnsgate exited with ${exitCode}`);
      return (await place.get(`http://127.0.0.1:${adminPort}/readyz`))?.status === 200;
    }, 15_000, 'dnsgate readiness');
  } catch (error) {
    if (exitCode === undefined) {
      proc.child.kill('SIGKILL');
      await proc.exited;
    }
    throw error instanceof DnsgateStartError ? error : new DnsgateStartError(undefined, proc.stderr(), (error as Error).message);
  }
  return { ...proc, port, adminPort };
}
