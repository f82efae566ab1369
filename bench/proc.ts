/**
 * What a target process costs, read from /proc: resident memory, and CPU time in
 * user and system mode (the process's threads, and its descendants, such as the nft
 * helper dnsgate keeps running).
 *
 * RSS is read whole and as its anonymous part (the heap, stacks, malloc's arenas).
 * The rest is pages of files mapped in, mostly the node binary's, about 40 MB that
 * every Node process has and that no change to dnsgate can move.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface Resident {
  /** VmRSS. */
  rssBytes: number;
  /** RssAnon: the heap, stacks and other private memory, without mapped files. */
  anonBytes: number;
}

export function parseResident(status: string): Resident {
  const kb = (field: string): number => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
    if (match === null) throw new Error(`no ${field} line in /proc/PID/status`);
    return Number(match[1]) * 1024;
  };
  return { rssBytes: kb('VmRSS'), anonBytes: kb('RssAnon') };
}

export function resident(pid: number): Resident {
  return parseResident(readFileSync(`/proc/${pid}/status`, 'utf8'));
}

export function rssBytes(pid: number): number {
  return resident(pid).rssBytes;
}

/** Clock ticks per second of /proc/PID/stat's times. */
const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

interface ProcStat {
  ppid: number;
  /** utime + stime, in clock ticks. */
  ticks: number;
}

/** `/proc/PID/stat`: fields after the command name, which is in parentheses and may hold spaces. */
export function parseProcStat(stat: string): ProcStat {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Counting from the state (field 3 of proc(5)): ppid is 4, utime 14, stime 15.
  return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
}

function readStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** CPU seconds that `pid` and its live descendants have used so far. */
export function cpuSeconds(pid: number): number {
  const stats = new Map<number, ProcStat>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat !== undefined) stats.set(Number(name), stat);
  }
  const children = new Map<number, number[]>();
  for (const [child, stat] of stats) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), child]);
  let ticks = 0;
  const pending = [pid];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    ticks += stats.get(next)?.ticks ?? 0;
    pending.push(...(children.get(next) ?? []));
  }
  return ticks / TICKS_PER_SECOND;
}
