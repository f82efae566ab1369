/**
 * The e2e network: a "node" namespace routing between pod namespaces and a "world"
 * namespace, each created here and deleted by `delete()`, so no packet of a test ever
 * leaves them.
 *
 *   pod namespaces  10.77.N.2/24 ── veth ── 10.77.N.1 (their gateway, on the node)
 *   node            forwards; dnsgate, knot and unbound run here
 *   world           10.77.9.2 ── veth ── 10.77.9.1 on the node; all of 203.0.113.0/24
 *                   is local there (a local route on lo), with TCP listeners on WORLD_PORTS
 *
 * Each pod namespace runs an agent: a Node process that connects, resolves and probes
 * on request, so that a connection can start the moment an answer arrives.
 */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { NetworkNamespace } from '../helpers/netns.js';

const run = promisify(execFile);

export const WORLD_NET = '203.0.113.0/24';
export const WORLD_PORTS = [80, 443, 5432, 7000, 8080];

/** Answers every connection with "ok" and closes it. */
const LISTENER_SCRIPT = `import { createServer } from 'node:net';
// Clients close at once; the reset that may follow is no error here.
const serve = (socket) => socket.on('error', () => undefined).end('ok\\n');
for (const port of JSON.parse(process.argv[1])) createServer(serve).listen(port, '0.0.0.0');
process.stdout.write('listening\\n');`;

/**
 * One JSON request per line on stdin, one JSON reply per line on stdout:
 * {op:'connect', ip, port, timeoutMs} → {ok}
 * {op:'resolveConnect', name, server, port, timeoutMs} → {ips, ok: [...]}: resolves A
 *   records at server:53 and connects to every answered address at once;
 * {op:'probe', ip, port, timeoutMs, intervalMs, untilFile} → {ok: [...]}: connects
 *   again and again until untilFile exists.
 */
const AGENT_SCRIPT = `import { connect } from 'node:net';
import { Resolver } from 'node:dns/promises';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
const attempt = (ip, port, timeoutMs) => new Promise((resolve) => {
  const socket = connect({ host: ip, port });
  const done = (ok) => { clearTimeout(timer); socket.destroy(); resolve(ok); };
  const timer = setTimeout(() => done(false), timeoutMs);
  socket.once('connect', () => done(true));
  socket.once('error', () => done(false));
});
const ops = {
  connect: async (r) => ({ ok: await attempt(r.ip, r.port, r.timeoutMs) }),
  resolveConnect: async (r) => {
    const resolver = new Resolver({ timeout: 3000, tries: 1 });
    resolver.setServers([r.server]);
    const ips = await resolver.resolve4(r.name);
    return { ips, ok: await Promise.all(ips.map((ip) => attempt(ip, r.port, r.timeoutMs))) };
  },
  probe: async (r) => {
    const ok = [];
    while (!existsSync(r.untilFile)) {
      ok.push(await attempt(r.ip, r.port, r.timeoutMs));
      await new Promise((resolve) => setTimeout(resolve, r.intervalMs));
    }
    return { ok };
  },
};
for await (const line of createInterface({ input: process.stdin })) {
  const request = JSON.parse(line);
  ops[request.op](request).then((reply) => process.stdout.write(JSON.stringify({ id: request.id, ...reply }) + '\\n'),
    (error) => process.stdout.write(JSON.stringify({ id: request.id, error: String(error.message) }) + '\\n'));
}`;

export class Agent {
  private next = 0;
  private readonly waiting = new Map<number, (reply: Record<string, unknown>) => void>();

  constructor(private readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const reply = JSON.parse(line) as Record<string, unknown> & { id: number };
      this.waiting.get(reply.id)?.(reply);
      this.waiting.delete(reply.id);
    });
  }

  request<T>(op: string, args: Record<string, unknown>): Promise<T> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (reply) => (reply.error !== undefined ? reject(new Error(String(reply.error))) : resolve(reply as T)));
      this.child.stdin.write(`${JSON.stringify({ id, op, ...args })}\n`);
    });
  }

  /** Whether a TCP connection to ip:port is established within `timeoutMs`. */
  async connects(ip: string, port: number, timeoutMs = 1500): Promise<boolean> {
    return (await this.request<{ ok: boolean }>('connect', { ip, port, timeoutMs })).ok;
  }

  /** Resolves `name` at `server` and connects to each answered address right away. */
  resolveConnect(name: string, server: string, port: number, timeoutMs = 1500): Promise<{ ips: string[]; ok: boolean[] }> {
    return this.request('resolveConnect', { name, server, port, timeoutMs });
  }

  /** Connects every `intervalMs` until `untilFile` exists; the outcome of each attempt. */
  async probe(ip: string, port: number, untilFile: string, intervalMs = 50, timeoutMs = 300): Promise<boolean[]> {
    return (await this.request<{ ok: boolean[] }>('probe', { ip, port, untilFile, intervalMs, timeoutMs })).ok;
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}

export interface PodNetwork {
  namespace: NetworkNamespace;
  ip: string;
  gateway: string;
  agent: Agent;
}

async function ip(namespace: NetworkNamespace, ...args: string[]): Promise<void> {
  await run('ip', ['-n', namespace.name, ...args]);
}

function startAgent(namespace: NetworkNamespace): Agent {
  const [file, args] = namespace.command(process.execPath, ['--input-type=module', '-e', AGENT_SCRIPT]);
  return new Agent(spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] }));
}

export class Topology {
  private readonly namespaces: NetworkNamespace[] = [];
  private readonly processes: ChildProcessWithoutNullStreams[] = [];
  node!: NetworkNamespace;
  world!: NetworkNamespace;
  readonly pods: PodNetwork[] = [];

  /** The node, the world and `podCount` pod namespaces; on failure everything made so far is deleted. */
  static async create(podCount: number): Promise<Topology> {
    const topology = new Topology();
    try {
      await topology.build(podCount);
    } catch (error) {
      await topology.delete();
      throw error;
    }
    return topology;
  }

  private async namespace(prefix: string): Promise<NetworkNamespace> {
    const namespace = await NetworkNamespace.create(prefix);
    this.namespaces.push(namespace);
    return namespace;
  }

  /** A veth pair: `10.77.subnet.1` on the node side, `10.77.subnet.2` on the other. */
  private async link(other: NetworkNamespace, subnet: number): Promise<void> {
    const nodeSide = `to${subnet}`;
    await ip(this.node, 'link', 'add', nodeSide, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', other.name);
    await ip(this.node, 'addr', 'add', `10.77.${subnet}.1/24`, 'dev', nodeSide);
    await ip(this.node, 'link', 'set', nodeSide, 'up');
    await ip(other, 'addr', 'add', `10.77.${subnet}.2/24`, 'dev', 'eth0');
    await ip(other, 'link', 'set', 'eth0', 'up');
    await ip(other, 'route', 'add', 'default', 'via', `10.77.${subnet}.1`);
  }

  private async build(podCount: number): Promise<void> {
    this.node = await this.namespace('dnsgate-node');
    await run('ip', ['netns', 'exec', this.node.name, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    this.world = await this.namespace('dnsgate-world');
    await this.link(this.world, 9);
    await ip(this.world, 'route', 'add', 'local', WORLD_NET, 'dev', 'lo');
    await ip(this.node, 'route', 'add', WORLD_NET, 'via', '10.77.9.2');
    const [file, args] = this.world.command(process.execPath, ['--input-type=module', '-e', LISTENER_SCRIPT, JSON.stringify(WORLD_PORTS)]);
    const listener = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.processes.push(listener);
    await new Promise<void>((resolve, reject) => {
      listener.stdout.once('data', () => resolve());
      listener.once('exit', (code) => reject(new Error(`world listener exited with ${code}`)));
    });
    for (let i = 1; i <= podCount; i++) {
      const namespace = await this.namespace('dnsgate-pod');
      await this.link(namespace, i);
      this.pods.push({ namespace, ip: `10.77.${i}.2`, gateway: `10.77.${i}.1`, agent: startAgent(namespace) });
    }
  }

  /** Stops the helpers and deletes every namespace (which takes their links along). */
  async delete(): Promise<void> {
    for (const pod of this.pods) pod.agent.stop();
    for (const process of this.processes) process.kill('SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 100));
    for (const namespace of this.namespaces.reverse()) await namespace.delete().catch(() => undefined);
  }
}
