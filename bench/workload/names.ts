/**
 * The names the load asks and the zone knot serves for them. Thousands of distinct
 * names, so that dnsgate keeps meeting names it has not learnt yet; every answer
 * address is in 198.18.0.0/15 and 2001:db8::/32, ranges reserved for benchmarks and
 * documentation that nothing here ever connects to.
 */

export const ZONE_ORIGIN = 'bench.test.';

/**
 * Allowed by the policy: two A records and one AAAA each. One pass of the mixed load
 * asks every one for A, and some for AAAA: over 10,000 learnt entries.
 */
export const ALLOWED = names(5000, (i) => `a${i}.allowed.bench.test`);
/** In the zone, allowed by no rule. */
export const DENIED = names(1000, (i) => `d${i}.denied.bench.test`);
/** Not in the zone: NXDOMAIN. */
export const MISSING = names(1000, (i) => `n${i}.missing.bench.test`);
/** Allowed, and asked only in the hold-time burst, so each is new to dnsgate there. */
export const BURST = names(500, (i) => `b${i}.burst.bench.test`);

/** Allowed by a wildcard and answered by one, with one address: every name the churn run asks is new. */
export const CHURN_WILDCARD = '*.churn.bench.test';
const CHURN_ADDRESS = '198.18.200.1';

export function churnName(i: number): string {
  return `c${i}.churn.bench.test`;
}

function names(count: number, name: (i: number) => string): string[] {
  return Array.from({ length: count }, (_, i) => name(i));
}

function ipv4(thirdOctetBase: number, i: number, firstTwo = '198.18'): string {
  return `${firstTwo}.${thirdOctetBase + (i >> 8)}.${i & 255}`;
}

export function zoneText(nameServerAddress: string): string {
  const records = [
    `$ORIGIN ${ZONE_ORIGIN}`,
    '$TTL 300',
    '@ IN SOA ns hostmaster 1 3600 600 86400 60',
    '@ IN NS ns',
    `ns IN A ${nameServerAddress}`,
  ];
  ALLOWED.forEach((name, i) => {
    records.push(`${name}. IN A ${ipv4(0, i)}`, `${name}. IN A ${ipv4(64, i)}`, `${name}. IN AAAA 2001:db8:18::${i.toString(16)}`);
  });
  DENIED.forEach((name, i) => records.push(`${name}. IN A ${ipv4(0, i, '198.19')}`));
  BURST.forEach((name, i) => records.push(`${name}. IN A ${ipv4(128, i)}`));
  records.push(`${CHURN_WILDCARD}. IN A ${CHURN_ADDRESS}`);
  return `${records.join('\n')}\n`;
}
