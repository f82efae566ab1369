/**
 * A dual-stack node as Kubernetes makes it, for the interception tests: the pods and the
 * world of topology.ts with IPv6 addresses added, "CoreDNS" at a pod-like address of
 * each family (unbound recursing to knot; knot itself on IPv6, where unbound is not
 * set up to listen), and a kube-proxy-like `nat` table per family that DNATs the
 * kube-dns Service IPs to them in prerouting and output. Pods' resolv.conf is what the
 * kubelet writes: the Service IP, the Kubernetes search list, ndots:5. dnsgate runs on
 * the node with --intercept, and nothing in the pods points at it.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { writeFixture } from '../helpers/cluster.js';
import { startKnot, startUnbound, standardRootZone, type DnsServer } from '../helpers/dns-servers.js';
import { spawnDnsgate, waitFor, type DnsgateProcess } from '../helpers/dnsgate.js';
import type { KubeObject } from '../kube/fake-api.js';
import { clusterPodsYaml, clusterPolicies, worldRecords } from '../dataplane/cluster.js';
import { Topology, type PodNetwork } from '../dataplane/topology.js';

const run = promisify(execFile);

export const SERVICE_IP = '10.96.0.10';
const SERVICE_CIDR = '10.96.0.0/12';
export const SERVICE_IP6 = 'fd00:10:96::a';
const SERVICE_CIDR6 = 'fd00:10:96::/112';
export const COREDNS_IP = '10.77.0.53';
const COREDNS_IP6 = 'fd77::53';
/** The node's own addresses, where dnsgate listens (as it would on the node IPs). */
export const NODE_IP = '10.77.0.1';
const NODE_IP6 = 'fd77::1';
export const LISTEN = `${NODE_IP}:5353`;
const LISTEN6 = `[${NODE_IP6}]:5353`;
export const TABLE = 'dnsgate';
/** The world's link on the node is 10.77.9.0/24 (topology.ts). */
const WORLD_SUBNET = 9;

/** The IPv6 address of a link's end in topology.ts: 10.77.N.H → fd77:N::H. */
function ipv6Of(ip: string): string {
  const [, , subnet, host] = ip.split('.');
  return `fd77:${subnet}::${host}`;
}

/** The pods file of cluster.ts with every pod of the node dual-stack, as the kubelet reports it. */
function dualStackPodsYaml(pods: readonly PodNetwork[]): string {
  const v6 = new Map(pods.map((pod) => [pod.ip, ipv6Of(pod.ip)]));
  const docs = clusterPodsYaml(pods.map((pod) => pod.ip)).trimEnd().split('\n---\n').map((text) => JSON.parse(text) as { status?: { podIP: string; podIPs: { ip: string }[] } });
  for (const doc of docs) {
    const ip6 = doc.status && v6.get(doc.status.podIP);
    if (ip6 !== undefined) doc.status?.podIPs.push({ ip: ip6 });
  }
  return `${docs.map((doc) => JSON.stringify(doc)).join('\n---\n')}\n`;
}

/**
 * FakeApiServer (test/kube/fake-api.ts), the one fake of these tests, in a process in
 * the node's namespace so that dnsgate there reaches it; it applies the JSON lines it
 * reads, `{path, object}` as a single object, `{path, items}` as a collection.
 */
const FAKE_API_SCRIPT = `import { createInterface } from 'node:readline';
const { FakeApiServer } = await import(process.argv[1]);
const api = new FakeApiServer();
await api.start('127.0.0.1');
process.stdout.write(api.url + '\\n');
for await (const line of createInterface({ input: process.stdin })) {
  const request = JSON.parse(line);
  if (request.items) api.set(request.path, request.items); else api.setSingle(request.path, request.object);
  process.stdout.write('ok\\n');
}`;

/** The Kubernetes API of the node, as dnsgate there sees it. */
export interface NodeApi {
  /** For dnsgate's DNSGATE_KUBE_API. */
  url: string;
  /** Serves `object` at `path` from now on. */
  setObject(path: string, object: unknown): Promise<void>;
  /** Serves `items` as the collection at `path` from now on (any label selector gets them all). */
  setCollection(path: string, items: readonly KubeObject[]): Promise<void>;
}

export interface DnsgateOptions {
  /** `--intercept` targets; the Service IPs of both families unless given. */
  intercept?: readonly string[];
  dataplane?: 'nftables' | 'none';
  env?: NodeJS.ProcessEnv;
}

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
    await this.addIpv6();
    // Service addresses are routed as a node's default route would; kube-proxy's DNAT decides where they go.
    await run(ipFile, [...ipArgs, 'route', 'add', SERVICE_CIDR, 'via', `10.77.${WORLD_SUBNET}.2`]);
    await run(ipFile, [...ipArgs, '-6', 'route', 'add', SERVICE_CIDR6, 'via', ipv6Of(`10.77.${WORLD_SUBNET}.2`)]);
    const dnat = (ip: 'ip' | 'ip6', service: string, backend: string) => `${ip} daddr ${service} meta l4proto { udp, tcp } th dport 53 dnat to ${backend}`;
    for (const [family, service, backend] of [['ip', SERVICE_IP, `${COREDNS_IP}:53`], ['ip6', SERVICE_IP6, `[${COREDNS_IP6}]:53`]] as const) {
      await this.nft(`table ${family} kube_proxy {
  chain prerouting { type nat hook prerouting priority dstnat; ${dnat(family, service, backend)}; }
  chain output { type nat hook output priority -100; ${dnat(family, service, backend)}; }
}`);
    }
    const zone = standardRootZone('127.0.0.2', `${worldRecords()}\n${CLUSTER_RECORDS}`);
    this.knot = await startKnot('127.0.0.2', { '.': zone }, { port: 5300, place: node });
    this.cleanups.push(() => this.knot.stop());
    this.coredns = await startUnbound(COREDNS_IP, this.knot, node, { port: 53, allow: ['10.0.0.0/8'] });
    this.cleanups.push(() => this.coredns.stop());
    const coredns6 = await startKnot(COREDNS_IP6, { '.': zone }, { port: 53, place: node });
    this.cleanups.push(() => coredns6.stop());
    this.fixture = writeFixture({ 'pods.yaml': dualStackPodsYaml(this.pods), 'policies.yaml': clusterPolicies() });
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

  /** fd77:N::/64 beside each 10.77.N.0/24 link, default routes for the pods, the node's and CoreDNS's addresses. */
  private async addIpv6(): Promise<void> {
    const node = this.topology.node;
    await run('ip', ['netns', 'exec', node.name, 'sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
    const links = [
      { subnet: WORLD_SUBNET, place: this.topology.world, route: false },
      ...this.pods.map((pod) => ({ subnet: Number(pod.ip.split('.')[2]), place: pod.namespace, route: true })),
    ];
    for (const { subnet, place, route } of links) {
      await run('ip', ['-n', node.name, 'addr', 'add', `${ipv6Of(`10.77.${subnet}.1`)}/64`, 'dev', `to${subnet}`, 'nodad']);
      await run('ip', ['-n', place.name, 'addr', 'add', `${ipv6Of(`10.77.${subnet}.2`)}/64`, 'dev', 'eth0', 'nodad']);
      if (route) await run('ip', ['-n', place.name, '-6', 'route', 'add', 'default', 'via', ipv6Of(`10.77.${subnet}.1`)]);
    }
    for (const address of [COREDNS_IP6, NODE_IP6]) await run('ip', ['-n', node.name, 'addr', 'add', `${address}/128`, 'dev', 'lo', 'nodad']);
  }

  /** A Kubernetes API in the node, served by FakeApiServer; stopped with the node. */
  async startApi(): Promise<NodeApi> {
    const fakeApi = new URL('../kube/fake-api.js', import.meta.url).href;
    const [file, args] = this.topology.node.command(process.execPath, ['--input-type=module', '-e', FAKE_API_SCRIPT, fakeApi]);
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    this.cleanups.push(() => void child.kill('SIGKILL'));
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const next = async (): Promise<string> => {
      const line = await lines.next();
      if (line.done === true) throw new Error('the fake API server exited');
      return line.value;
    };
    const url = await next();
    let queue = Promise.resolve();
    const send = (request: object): Promise<void> => {
      const sent = queue.then(async () => {
        child.stdin.write(`${JSON.stringify(request)}\n`);
        await next();
      });
      queue = sent.catch(() => undefined);
      return sent;
    };
    return { url, setObject: (path, object) => send({ path, object }), setCollection: (path, items) => send({ path, items }) };
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
  dnsgateArgs(adminPort: number, extra: readonly string[] = [], options: DnsgateOptions = {}): string[] {
    return [
      'serve',
      '--listen', LISTEN,
      '--listen', LISTEN6,
      '--admin', `127.0.0.1:${adminPort}`,
      '--upstream', SERVICE_IP,
      ...(options.intercept ?? [SERVICE_IP, SERVICE_IP6]).flatMap((target) => ['--intercept', target]),
      '--dataplane', options.dataplane ?? 'nftables',
      '--pods', join(this.fixture, 'pods.yaml'),
      '--policies', join(this.fixture, 'policies.yaml'),
      '--log-stdout', 'false',
      ...extra,
    ];
  }

  /** dnsgate in the node; resolves once /readyz answers 200. */
  async startDnsgate(adminPort: number, extra: readonly string[] = [], options: DnsgateOptions = {}): Promise<DnsgateProcess> {
    const node = this.topology.node;
    const proc = spawnDnsgate(this.dnsgateArgs(adminPort, extra, options), node, options.env);
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
