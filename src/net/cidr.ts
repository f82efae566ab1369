/** CIDR ranges through ip-num: parsing, normalising and membership outside the hot path. */
import { IPv4, IPv4CidrRange, IPv6, IPv6CidrRange } from 'ip-num';
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
    const range = IPv4CidrRange.fromCidr(`${address}/${prefix}`);
    return {
      family: 4,
      text: `${range.getFirst().toString()}/${prefix}`,
      contains: (ip) => isIP(ip) === 4 && range.contains(IPv4.fromString(ip)),
    };
  }
  const range = IPv6CidrRange.fromCidr(`${address}/${prefix}`);
  const first = new URL(`http://[${range.getFirst().toString()}]`).hostname.slice(1, -1);
  return {
    family: 6,
    text: `${first}/${prefix}`,
    contains: (ip) => isIP(ip) === 6 && range.contains(IPv6.fromString(ip)),
  };
}

const PRIVATE_RANGES = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'].map((text) => parseCidr(text) as Cidr);

/** RFC 1918 (and RFC 4193 for IPv6): the DNS logs' `pvt`, as opposed to `pub`. */
export function isPrivateIp(ip: string): boolean {
  return PRIVATE_RANGES.some((range) => range.contains(ip));
}
