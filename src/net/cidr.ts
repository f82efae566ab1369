/**
 * CIDR ranges. ip-num parses and normalises IPv6 ones; membership is a comparison against
 * the range's bounds as integers, because ip-num's own check rebuilds masks from
 * strings on every call (tens of µs), and policy evaluation asks it for every address
 * an answer teaches.
 */
import { IPv6CidrRange } from 'ip-num';
import { isIP } from 'node:net';

export interface Cidr {
  family: 4 | 6;
  /** Network address and prefix, host bits cleared: `10.0.0.0/8`. */
  text: string;
  contains(ip: string): boolean;
}

/** A CIDR or a bare address (taken as /32 or /128); undefined when invalid. */
export function parseCidr(text: string): Cidr | undefined {
  const [address, prefixText, extra] = text.split('/');
  if (extra !== undefined) return undefined;
  const family = isIP(address);
  if (family === 0) return undefined;
  const maxPrefix = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? maxPrefix : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : -1;
  if (prefix < 0 || prefix > maxPrefix) return undefined;
  if (family === 4) {
    // Integer arithmetic: ip-num's IPv4 parsing costs about 100 µs a range, which a
    // policy set of 100,000 NetworkSets pays 100,000 times.
    const size = 2 ** (32 - prefix);
    const value = ipv4Value(address) as number;
    const first = value - (value % size);
    const last = first + size - 1;
    return {
      family: 4,
      text: `${first >>> 24}.${(first >>> 16) & 255}.${(first >>> 8) & 255}.${first & 255}/${prefix}`,
      contains: (ip) => {
        const value = ipv4Value(ip);
        return value !== undefined && value >= first && value <= last;
      },
    };
  }
  const range = IPv6CidrRange.fromCidr(`${address}/${prefix}`);
  const first = range.getFirst().getValue();
  const last = range.getLast().getValue();
  return {
    family: 6,
    text: `${new URL(`http://[${range.getFirst().toString()}]`).hostname.slice(1, -1)}/${prefix}`,
    contains: (ip) => {
      const value = isIP(ip) === 6 ? ipv6Value(ip) : undefined;
      return value !== undefined && value >= first && value <= last;
    },
  };
}

/** The address as an integer, or undefined when it is not dotted-quad IPv4. */
function ipv4Value(ip: string): number | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    const octet = Number(part);
    if (!/^\d{1,3}$/.test(part) || octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

/** A valid IPv6 address (checked by the caller) as an integer, embedded IPv4 included. */
function ipv6Value(ip: string): bigint {
  let text = ip.toLowerCase();
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const v4 = ipv4Value(dotted[1]) ?? 0;
    text = `${text.slice(0, dotted.index)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  let value = 0n;
  for (const group of groups) value = (value << 16n) | BigInt(parseInt(group, 16));
  return value;
}

/**
 * IPv4 RFC 1918 (10/8, 172.16/12, 192.168/16): the DNS logs' `pvt`, as opposed to `pub`.
 * Felix calls every IPv6 address, ULA included, `pub`.
 */
export function isPrivateIp(ip: string): boolean {
  const value = ipv4Value(ip);
  if (value === undefined) return false;
  const first = value >>> 24;
  const second = (value >>> 16) & 255;
  return first === 10 || (first === 172 && second >= 16 && second <= 31) || (first === 192 && second === 168);
}
