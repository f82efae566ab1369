/**
 * Real upstreams for the tests: knot as the authoritative server and unbound recursing
 * to it, as CoreDNS would forward to a resolver. Both listen on loopback only, and
 * unbound's only way out is a stub zone for the root pointing at knot, so no query
 * ever leaves the machine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dig } from './dig.js';
import { freePort } from './net.js';
import { HOST, type Place } from './netns.js';

export interface DnsServer {
  address: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/** Names every test zone set can rely on; tests add their own records. */
export function standardRootZone(knotAddress: string, extra = ''): string {
  const big = Array.from({ length: 60 }, (_, i) => `big.example.com. 300 IN A 198.51.100.${i + 1}`).join('\n');
  return `$ORIGIN .
$TTL 300
. IN SOA ns.root.test. hostmaster.root.test. 1 3600 600 86400 60
. IN NS ns.root.test.
ns.root.test. IN A ${knotAddress}
www.example.com. IN A 192.0.2.10
multi.example.com. IN A 192.0.2.11
multi.example.com. IN A 192.0.2.12
v6.example.com. IN AAAA 2001:db8::10
dual.example.com. IN A 192.0.2.13
dual.example.com. IN AAAA 2001:db8::13
alias.example.com. IN CNAME www.example.com.
chain.example.com. IN CNAME hop.example.net.
hop.example.net. IN CNAME end.example.org.
end.example.org. IN A 192.0.2.20
mail.example.com. IN MX 10 mx.example.com.
mx.example.com. IN A 192.0.2.25
text.example.com. IN TXT "hello" "world"
_sip._udp.example.com. IN SRV 10 20 5060 sip.example.com.
ttl1.example.com. 1 IN A 192.0.2.30
${big}
${extra}
`;
}

/** Polls with dig until `name` gets any answer from address:port, or `child` exits. */
async function waitForAnswer(address: string, port: number, name: string, child: ChildProcess, what: string, log: () => string, place: Place = HOST): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}: ${log()}`);
    const result = await dig(name, { server: address, port, timeout: 1, place }).catch(() => undefined);
    if (result && !result.timedOut) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} did not answer on ${address}:${port}: ${log()}`);
}

function stopper(child: ChildProcess, dir: string | undefined): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      const done = (): void => {
        if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
        resolve();
      };
      if (child.exitCode !== null || child.signalCode !== null) return done();
      child.once('exit', done);
      child.kill('SIGTERM');
    });
}

export interface DnsServerSpawn {
  /** Named in errors. */
  what: string;
  file: string;
  args: readonly string[];
  address: string;
  port: number;
  /** A name the server answers once it is ready. */
  probeName: string;
  place?: Place;
  /** Removed when the server stops. */
  dir?: string;
}

/** Starts a DNS server process and waits until it answers; stopped with SIGTERM. */
export async function spawnDnsServer(spec: DnsServerSpawn): Promise<DnsServer> {
  const place = spec.place ?? HOST;
  const child = spawn(...place.command(spec.file, spec.args), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const stop = stopper(child, spec.dir);
  try {
    await waitForAnswer(spec.address, spec.port, spec.probeName, child, spec.what, () => stderr, place);
  } catch (error) {
    await stop();
    throw error;
  }
  return { address: spec.address, port: spec.port, pid: child.pid as number, stop };
}

export interface KnotOptions {
  /** A free one unless given. */
  port?: number;
  place?: Place;
  /** The NSID knot returns to queries that ask for it (RFC 5001). */
  nsid?: string;
}

/** knot serving `zones` (origin → zone text) on `address`. */
export async function startKnot(address: string, zones: Record<string, string>, options: KnotOptions = {}): Promise<DnsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'dnsgate-knot-'));
  const port = options.port ?? (await freePort(address));
  const zoneEntries = Object.entries(zones).map(([origin, text], i) => {
    writeFileSync(join(dir, `zone${i}.zone`), text);
    return `  - domain: "${origin}"\n    file: "${join(dir, `zone${i}.zone`)}"`;
  });
  writeFileSync(
    join(dir, 'knot.conf'),
    `server:
  rundir: "${dir}"
  listen: ${address}@${port}${options.nsid === undefined ? '' : `\n  nsid: "${options.nsid}"`}
  udp-workers: 1
  tcp-workers: 1
  background-workers: 1
log:
  - target: stderr
    any: warning
database:
  storage: "${dir}"
template:
  - id: default
    storage: "${dir}"
    semantic-checks: off
    zonefile-sync: -1
    journal-content: none
zone:
${zoneEntries.join('\n')}
`,
  );
  return spawnDnsServer({ what: 'knotd', file: 'knotd', args: ['-c', join(dir, 'knot.conf')], address, port, probeName: Object.keys(zones)[0], place: options.place, dir });
}

export interface UnboundOptions {
  /** A free one unless given. */
  port?: number;
  /** Client networks besides 127.0.0.0/8 (CIDRs). */
  allow?: readonly string[];
  /**
   * `knot` is any recursive server that unbound forwards every query to (RD set), as a
   * caching resolver in front of dnsgate would.
   */
  forward?: boolean;
}

/** unbound on `address`, resolving everything through `knot` (a stub for the root); in `place` when given. */
export async function startUnbound(address: string, knot: { address: string; port: number }, place: Place = HOST, options: UnboundOptions = {}): Promise<DnsServer> {
  const forward = options.forward ?? false;
  const dir = mkdtempSync(join(tmpdir(), 'dnsgate-unbound-'));
  const port = options.port ?? (await freePort(address));
  const allow = (options.allow ?? []).map((net) => `\n  access-control: ${net} allow`).join('');
  writeFileSync(
    join(dir, 'unbound.conf'),
    `server:
  interface: ${address}
  port: ${port}
  outgoing-interface: ${address}
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "${dir}"
  pidfile: "${join(dir, 'unbound.pid')}"
  use-syslog: no
  logfile: ""
  verbosity: 0
  num-threads: 1
  do-ip6: no
  access-control: 127.0.0.0/8 allow${allow}
  do-not-query-localhost: no
  module-config: "iterator"
  qname-minimisation: no
  harden-referral-path: no
  target-fetch-policy: "0 0 0 0 0"
  prefetch: no
  serve-expired: no
remote-control:
  control-enable: no
${forward ? 'forward-zone' : 'stub-zone'}:
  name: "."
  ${forward ? 'forward-addr' : 'stub-addr'}: ${knot.address}@${knot.port}
`,
  );
  return spawnDnsServer({ what: 'unbound', file: 'unbound', args: ['-d', '-c', join(dir, 'unbound.conf')], address, port, probeName: 'www.example.com', place, dir });
}

/** knot with the standard root zone plus `extraZones`, and unbound in front of it. */
export async function startUpstreams(knotAddress: string, unboundAddress: string, extraZones: Record<string, string> = {}, extraRecords = ''): Promise<{ knot: DnsServer; unbound: DnsServer; stop(): Promise<void> }> {
  const knot = await startKnot(knotAddress, { '.': standardRootZone(knotAddress, extraRecords), ...extraZones });
  const unbound = await startUnbound(unboundAddress, knot).catch(async (error: Error) => {
    await knot.stop();
    throw error;
  });
  return {
    knot,
    unbound,
    stop: async () => {
      await unbound.stop();
      await knot.stop();
    },
  };
}
