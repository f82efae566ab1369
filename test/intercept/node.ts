/**
 * A node as Kubernetes makes it, for the interception tests: the pods and the world of
 * topology.ts, "CoreDNS" (unbound recursing to knot) at a pod-like address, and a
 * kube-proxy-like `nat` table that DNATs the kube-dns Service IP to it in prerouting
 * and output. Pods' resolv.conf is what the kubelet writes: the Service IP, the
 * Kubernetes search list, ndots:5. dnsgate runs on the node with --intercept, and
 * nothing in the pods points at it.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { writeFixture } from '../helpers/cluster.js';
import { startKnot, startUnbound, standardRootZone, type DnsServer } from '../helpers/dns-servers.js';
import { spawnDnsgate, waitFor, type DnsgateProcess } from '../helpers/dnsgate.js';
import { clusterPodsYaml, clusterPolicies, worldRecords } from '../dataplane/cluster.js';
import { Topology, type PodNetwork } from '../dataplane/topology.js';

const run = promisify(execFile);

export const SERVICE_IP = '10.96.0.10';
const SERVICE_CIDR = '10.96.0.0/12';
export const COREDNS_IP = '10.77.0.53';
/** The node's own address, where dnsgate listens (as it would on the node IP). */
export const NODE_IP = '10.77.0.1';
export const LISTEN = `${NODE_IP}:5353`;
export const TABLE = 'dnsgate';
const SEARCH = 'shop.svc.cluster.local svc.cluster.local cluster.local';

/** A tiny getaddrinfo client, compiled with musl at test time: prints one IPv4 address per line. */
const MUSL_CLIENT = `#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
  struct addrinfo hints, *res, *p;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  int rc = getaddrinfo(argv[1], NULL, &hints, &res);
  if (rc != 0) { fprintf(stderr, "%s\\n", gai_strerror(rc)); return 2; }
  for (p = res; p; p = p->ai_next) {
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &((struct sockaddr_in *)p->ai_addr)->sin_addr, text, sizeof text);
    printf("%s\\n", text);
  }
  return 0;
}
`;

/** Names a test may learn once each: h1 … h90.allowed.world → 203.0.113.101 … 190. */
export const FRESH_NAMES = 90;

/** Records "CoreDNS" serves besides the world's: a Service of the cluster, and the fresh names. */
const CLUSTER_RECORDS = [
  'api.shop.svc.cluster.local. 30 IN A 203.0.113.150',
  'kube-dns.kube-system.svc.cluster.local. 30 IN A 10.96.0.10',
  ...Array.from({ length: FRESH_NAMES }, (_, i) => `h${i + 1}.allowed.world. 300 IN A 203.0.113.${101 + i}`),
].join('\n');

export class KubeNode {
  topology!: Topology;
  knot!: DnsServer;
  coredns!: DnsServer;
  fixture!: string;
  muslClient!: string;
  private readonly cleanups: (() => Promise<void> | void)[] = [];

  static async create(podCount = 3): Promise<KubeNode> {
    const node = new KubeNode();
    try {
      await node.build(podCount);
    } catch (error) {
      await node.delete();
      throw error;
    }
    return node;
  }

  get pods(): readonly PodNetwork[] {
    return this.topology.pods;
  }

  private async build(podCount: number): Promise<void> {
    this.topology = await Topology.create(podCount);
    this.cleanups.push(() => this.topology.delete());
    const node = this.topology.node;
    const [ipFile, ipArgs] = ['ip', ['-n', node.name]];
    await run(ipFile, [...ipArgs, 'addr', 'add', `${COREDNS_IP}/32`, 'dev', 'lo']);
    await run(ipFile, [...ipArgs, 'addr', 'add', `${NODE_IP}/32`, 'dev', 'lo']);
    // Service addresses are routed as a node's default route would; kube-proxy's DNAT decides where they go.
    await run(ipFile, [...ipArgs, 'route', 'add', SERVICE_CIDR, 'via', '10.77.9.2']);
    await this.nft(`table ip kube_proxy {
  chain prerouting { type nat hook prerouting priority dstnat; ip daddr ${SERVICE_IP} meta l4proto { udp, tcp } th dport 53 dnat to ${COREDNS_IP}:53; }
  chain output { type nat hook output priority -100; ip daddr ${SERVICE_IP} meta l4proto { udp, tcp } th dport 53 dnat to ${COREDNS_IP}:53; }
}`);
    this.knot = await startKnot('127.0.0.2', { '.': standardRootZone('127.0.0.2', `${worldRecords()}\n${CLUSTER_RECORDS}`) }, { port: 5300, place: node });
    this.cleanups.push(() => this.knot.stop());
    this.coredns = await startUnbound(COREDNS_IP, this.knot, node, { port: 53, allow: ['10.0.0.0/8'] });
    this.cleanups.push(() => this.coredns.stop());
    this.fixture = writeFixture({ 'pods.yaml': clusterPodsYaml(this.pods.map((pod) => pod.ip)), 'policies.yaml': clusterPolicies() });
    this.cleanups.push(() => rmSync(this.fixture, { recursive: true, force: true }));
    for (const pod of this.pods) {
      const dir = join('/etc/netns', pod.namespace.name);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'resolv.conf'), `nameserver ${SERVICE_IP}\nsearch ${SEARCH}\noptions ndots:5 timeout:2 attempts:2\n`);
      this.cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    }
    const build = mkdtempSync(join(tmpdir(), 'dnsgate-musl-'));
    this.cleanups.push(() => rmSync(build, { recursive: true, force: true }));
    writeFileSync(join(build, 'resolve.c'), MUSL_CLIENT);
    this.muslClient = join(build, 'resolve');
    await run('musl-gcc', ['-static', '-O1', '-o', this.muslClient, join(build, 'resolve.c')]);
  }

  /** Runs an nft script in the node. */
  async nft(script: string): Promise<void> {
    const [file, args] = this.topology.node.command('nft', ['-f', '-']);
    await new Promise<void>((resolve, reject) => {
      const child = execFile(file, args, (error, _stdout, stderr) => (error ? reject(new Error(stderr || error.message)) : resolve()));
      child.stdin?.end(script);
    });
  }

  /** `nft ARGS` in the node; its output. */
  async nftList(...args: string[]): Promise<string> {
    const [file, argv] = this.topology.node.command('nft', args);
    return (await run(file, argv)).stdout;
  }

  /** dnsgate's serve flags for this node: upstream is the Service, as in a cluster. */
  dnsgateArgs(adminPort: number, extra: readonly string[] = []): string[] {
    return [
      'serve',
      '--listen', LISTEN,
      '--admin', `127.0.0.1:${adminPort}`,
      '--upstream', SERVICE_IP,
      '--intercept', SERVICE_IP,
      '--dataplane', 'nftables',
      '--pods', join(this.fixture, 'pods.yaml'),
      '--policies', join(this.fixture, 'policies.yaml'),
      '--log-stdout', 'false',
      ...extra,
    ];
  }

  /** dnsgate in the node; resolves once /readyz answers 200. */
  async startDnsgate(adminPort: number, extra: readonly string[] = []): Promise<DnsgateProcess> {
    const node = this.topology.node;
    const proc = spawnDnsgate(this.dnsgateArgs(adminPort, extra), node);
    let exit: number | string | undefined;
    void proc.exited.then((code) => (exit = code));
    try {
      await waitFor(async () => {
        if (exit !== undefined) throw new Error(`dnsgate exited with ${exit}: ${proc.stderr()}`);
        return (await node.get(`http://127.0.0.1:${adminPort}/readyz`))?.status === 200;
      }, 20_000, 'dnsgate readiness');
    } catch (error) {
      if (exit === undefined) proc.child.kill('SIGKILL');
      throw error;
    }
    this.cleanups.push(async () => {
      if (exit === undefined) {
        proc.child.kill('SIGKILL');
        await proc.exited;
      }
    });
    return proc;
  }

  /** The addresses a resolver in `pod` gets for `name` (glibc's getent, or the musl client); [] when the lookup failed. */
  async lookup(pod: PodNetwork, name: string, resolver: 'glibc' | 'musl'): Promise<string[]> {
    const [file, args] = resolver === 'glibc' ? pod.namespace.command('getent', ['ahostsv4', name]) : pod.namespace.command(this.muslClient, [name]);
    const output = await run(file, args, { timeout: 20_000 }).catch(() => undefined);
    if (output === undefined) return [];
    return [...new Set(output.stdout.split('\n').map((line) => line.split(/\s+/)[0]).filter((ip) => /^\d+\.\d+\.\d+\.\d+$/.test(ip)))];
  }

  /** Stops what was started and deletes the namespaces, the pods' resolv.conf and dnsgate's table. */
  async delete(): Promise<void> {
    for (const cleanup of this.cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
  }
}
