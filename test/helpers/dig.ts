/** dig, the reference client: runs it and reads its answer. */
import { execFile } from 'node:child_process';
import { HOST, type Place } from './netns.js';

export interface DigResult {
  status: string;
  flags: string[];
  answers: { name: string; ttl: number; type: string; data: string }[];
  authority: { name: string; ttl: number; type: string; data: string }[];
  /** Set when dig got no answer at all. */
  timedOut: boolean;
  output: string;
  elapsedMs: number;
}

export interface DigOptions {
  server: string;
  port: number;
  /** Source address (`-b`), which is the client identity dnsgate sees. */
  source?: string;
  type?: string;
  tcp?: boolean;
  /** Retries and per-try timeout in seconds. */
  tries?: number;
  timeout?: number;
  extra?: string[];
  /** Where dig runs; the host unless given. */
  place?: Place;
}

function parseSection(output: string, header: string): DigResult['answers'] {
  const start = output.indexOf(`;; ${header} SECTION:`);
  if (start < 0) return [];
  const lines = output.slice(start).split('\n').slice(1);
  const records: DigResult['answers'] = [];
  for (const line of lines) {
    if (line.trim() === '' || line.startsWith(';;')) break;
    const [name, ttl, , type, ...data] = line.split(/\s+/);
    records.push({ name, ttl: Number(ttl), type, data: data.join(' ') });
  }
  return records;
}

export function dig(name: string, options: DigOptions): Promise<DigResult> {
  const args = [`@${options.server}`, '-p', String(options.port), name, options.type ?? 'A', `+tries=${options.tries ?? 1}`, `+time=${options.timeout ?? 2}`];
  if (options.source) args.push('-b', options.source);
  if (options.tcp) args.push('+tcp');
  args.push(...(options.extra ?? []));
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const [file, argv] = (options.place ?? HOST).command('dig', args);
    execFile(file, argv, { timeout: 30_000 }, (error, stdout) => {
      const elapsedMs = performance.now() - started;
      if (error && !/timed out|no servers could be reached/.test(stdout)) {
        reject(new Error(`dig ${args.join(' ')} failed: ${error.message}\n${stdout}`));
        return;
      }
      const status = /status: (\w+)/.exec(stdout)?.[1] ?? '';
      const flags = /;; flags: ([^;]*);/.exec(stdout)?.[1].trim().split(/\s+/) ?? [];
      resolve({
        status,
        flags,
        answers: parseSection(stdout, 'ANSWER'),
        authority: parseSection(stdout, 'AUTHORITY'),
        timedOut: status === '',
        output: stdout,
        elapsedMs,
      });
    });
  });
}
