/** Resident memory of a process, from /proc. */
import { readFileSync } from 'node:fs';

export function parseVmRssBytes(status: string): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (match === null) throw new Error('no VmRSS line in /proc/PID/status');
  return Number(match[1]) * 1024;
}

export function rssBytes(pid: number): number {
  return parseVmRssBytes(readFileSync(`/proc/${pid}/status`, 'utf8'));
}
