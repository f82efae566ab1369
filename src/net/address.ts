/** Address literals: the canonical text Node reports for peers, and HOST:PORT endpoints. */
import { isIP, SocketAddress } from 'node:net';

export interface Endpoint {
  host: string;
  port: number;
  family: 4 | 6;
}

/**
 * The form in which Node reports peer addresses (inet_ntop: lowercase, compressed),
 * so that configured addresses compare equal to `rinfo.address`. IPv4-mapped IPv6
 * addresses become plain IPv4, as dual-stack sockets report them that way too.
 */
export function canonicalIp(ip: string): string | undefined {
  const family = isIP(ip);
  if (family === 4) return new SocketAddress({ address: ip, family: 'ipv4' }).address;
  if (family !== 6) return undefined;
  const text = new SocketAddress({ address: ip, family: 'ipv6' }).address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  return mapped ? mapped[1] : text;
}

/** `IP`, `IP:PORT`, `[IPv6]` or `[IPv6]:PORT`; a bare IPv6 address takes `defaultPort`. */
export function parseEndpoint(text: string, defaultPort?: number): Endpoint | undefined {
  let host: string;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed) {
    host = bracketed[1];
    portText = bracketed[2];
  } else if (isIP(text) === 6) {
    host = text;
  } else {
    const colon = text.lastIndexOf(':');
    host = colon < 0 ? text : text.slice(0, colon);
    portText = colon < 0 ? undefined : text.slice(colon + 1);
  }
  const ip = canonicalIp(host);
  if (ip === undefined) return undefined;
  let port = defaultPort;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText)) return undefined;
    port = Number(portText);
  }
  if (port === undefined || port < 0 || port > 65535) return undefined;
  return { host: ip, port, family: isIP(ip) === 6 ? 6 : 4 };
}

export function formatEndpoint(endpoint: { host: string; port: number }): string {
  return endpoint.host.includes(':') ? `[${endpoint.host}]:${endpoint.port}` : `${endpoint.host}:${endpoint.port}`;
}

/** 127.0.0.0/8 or ::1, as canonicalIp writes them. */
export function isLoopback(ip: string): boolean {
  return ip === '::1' || ip.startsWith('127.');
}
