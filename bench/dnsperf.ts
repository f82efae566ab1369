/** dnsperf, the load generator: its command line, a run, and the report it prints. */
import { spawn } from 'node:child_process';
import { HOST, type Place } from '../test/helpers/netns.js';
import type { Scope } from './scope.js';

/** A query unanswered after this long is lost, and stops occupying an outstanding slot. */
const QUERY_TIMEOUT_SECONDS = 2;

export interface DnsperfLoad {
  server: string;
  port: number;
  /** Source address: the client identity dnsgate sees. */
  source: string;
  queryFile: string;
  clients: number;
  /** Stop after this long (`-l`). */
  seconds?: number;
  /** Stop after this many passes through the file (`-n`). */
  passes?: number;
  /** Rate limit (`-Q`); without it dnsperf sends as fast as answers come back. */
  maxQps?: number;
  /** Report every query's latency (`-v`). */
  perQuery?: boolean;
  place?: Place;
}

export interface DnsperfReport {
  sent: number;
  completed: number;
  lost: number;
  qps: number;
  averageLatencyUs: number;
  /** Each answered query's latency in µs, when `perQuery` was asked. */
  latenciesUs: number[];
}

export function dnsperfArgs(load: DnsperfLoad): string[] {
  const args = ['-s', load.server, '-p', String(load.port), '-a', load.source, '-d', load.queryFile, '-c', String(load.clients), '-t', String(QUERY_TIMEOUT_SECONDS)];
  if (load.seconds !== undefined) args.push('-l', String(load.seconds));
  if (load.passes !== undefined) args.push('-n', String(load.passes));
  if (load.maxQps !== undefined) args.push('-Q', String(load.maxQps));
  if (load.perQuery) args.push('-v');
  return args;
}

/** `> NOERROR name type 0.000123`: an answered query and its latency in seconds. Lost ones read `> T name type`. */
const PER_QUERY = /^> \S+ \S+ \S+ (\d+(?:\.\d+)?)$/gm;

function field(output: string, label: string): number {
  const match = new RegExp(`^\\s*${label}:\\s+([\\d.]+)`, 'm').exec(output);
  if (match === null) throw new Error(`dnsperf printed no "${label}":\n${output.slice(-2000)}`);
  return Number(match[1]);
}

export function parseDnsperf(output: string): DnsperfReport {
  const latenciesUs: number[] = [];
  for (const match of output.matchAll(PER_QUERY)) latenciesUs.push(Number(match[1]) * 1e6);
  return {
    sent: field(output, 'Queries sent'),
    completed: field(output, 'Queries completed'),
    lost: field(output, 'Queries lost'),
    qps: field(output, 'Queries per second'),
    averageLatencyUs: field(output, 'Average Latency \\(s\\)') * 1e6,
    latenciesUs,
  };
}

export function runDnsperf(load: DnsperfLoad, scope: Scope): Promise<DnsperfReport> {
  const child = spawn(...(load.place ?? HOST).command('dnsperf', dnsperfArgs(load)), { stdio: ['ignore', 'pipe', 'pipe'] });
  scope.defer(() => {
    if (child.exitCode === null) child.kill();
  });
  const stdout: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) reject(new Error(`dnsperf ${dnsperfArgs(load).join(' ')} exited with ${code}: ${stderr}`));
      else resolve(parseDnsperf(Buffer.concat(stdout).toString()));
    });
  });
}
