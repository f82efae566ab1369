/** dnsperf query files: the steady mix, the burst of names asked once, and the churn of never-seen names. */
import { ALLOWED, BURST, DENIED, MISSING, churnName } from './names.js';

interface Stream {
  names: readonly string[];
  type: 'A' | 'AAAA';
  /** Queries of this stream in each block of 20. */
  perBlock: number;
}

/** Half allowed A, then allowed AAAA, unallowed names and NXDOMAIN. */
const MIX: readonly Stream[] = [
  { names: ALLOWED, type: 'A', perBlock: 10 },
  { names: ALLOWED, type: 'AAAA', perBlock: 3 },
  { names: DENIED, type: 'A', perBlock: 4 },
  { names: MISSING, type: 'A', perBlock: 3 },
];

/** One pass asks every allowed name for an A record; the other streams cycle. */
export function mixedQueries(): string[] {
  const blocks = ALLOWED.length / MIX[0].perBlock;
  const lines: string[] = [];
  for (let block = 0; block < blocks; block++) {
    for (const stream of MIX) {
      for (let k = 0; k < stream.perBlock; k++) lines.push(`${stream.names[(block * stream.perBlock + k) % stream.names.length]} ${stream.type}`);
    }
  }
  return lines;
}

export function burstQueries(): string[] {
  return BURST.map((name) => `${name} A`);
}

/** `count` distinct names under the churn wildcard, each asked once. */
export function churnQueries(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${churnName(i)} A`);
}
