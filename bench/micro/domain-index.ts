/**
 * The domain index with 10,000 patterns, half exact and half wildcard (`*.x`, `a.*.x`),
 * queried with names that hit exact patterns, hit wildcards, or miss. The target is at
 * most 2 µs per lookup.
 */
import { DomainIndex } from '../../src/policy/domain-index.js';
import { seededRandom } from '../../test/helpers/random.js';
import { nsPerCall, type Figure } from './measure.js';

const PATTERNS = 10_000;
const QUERIES = 4096;
const WORDS = ['api', 'www', 'cdn', 'auth', 'login', 'static', 'img', 'eu', 'us', 'prod', 'edge', 'mail', 'data', 'pay', 'docs', 'status'];
const TLDS = ['com', 'net', 'org', 'io', 'dev', 'co.uk'];

export async function benchDomainIndex(): Promise<Figure[]> {
  const random = seededRandom(42);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const site = (i: number): string => `site${i}.${pick(TLDS)}`;

  const sites: string[] = [];
  const patterns: string[] = [];
  for (let i = 0; i < PATTERNS; i++) {
    const domain = site(i);
    sites.push(domain);
    const kind = i % 4;
    patterns.push(kind < 2 ? `${pick(WORDS)}.${domain}` : kind === 2 ? `*.${domain}` : `${pick(WORDS)}.*.${domain}`);
  }

  const buildStart = process.hrtime.bigint();
  const index = new DomainIndex<number>();
  patterns.forEach((pattern, i) => index.add(pattern, i));
  const buildMs = Number(process.hrtime.bigint() - buildStart) / 1e6;

  const queries: string[] = [];
  for (let i = 0; i < QUERIES; i++) {
    const n = Math.floor(random() * PATTERNS);
    const pattern = patterns[n];
    switch (i % 4) {
      case 0: // the pattern itself, or what its wildcard stands for
        queries.push(pattern.replace('*', `${pick(WORDS)}.${pick(WORDS)}`));
        break;
      case 1: // mixed case with a trailing dot, as resolvers send it
        queries.push(`${pattern.replace('*', pick(WORDS)).toUpperCase()}.`);
        break;
      case 2: // a name under a known site that no pattern covers
        queries.push(`${pick(WORDS)}-x.${sites[n]}`);
        break;
      default: // an unknown site
        queries.push(`${pick(WORDS)}.unknown${i}.${pick(TLDS)}`);
    }
  }

  const lookup = nsPerCall((i) => index.lookup(queries[i & (QUERIES - 1)]).length, 200_000);
  return [
    { name: 'domain-index lookup, 10k patterns', value: Math.round(lookup), unit: 'ns/lookup' },
    { name: 'domain-index build, 10k patterns', value: Math.round(buildMs * 10) / 10, unit: 'ms' },
  ];
}
