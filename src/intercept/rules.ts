/**
 * The nftables text of interception, in dnsgate's own table next to the enforcement
 * objects (every name starts with INTERCEPT_PREFIX, which the enforcement swap leaves
 * alone).
 *
 * UDP is rewritten statelessly (`notrack`): a query to a target has its destination set
 * to the owner's listener, and the target it was sent to is remembered per client
 * address and port in a timed map that the kernel fills from the packet path; a reply
 * leaving any live instance's listener gets that target back as its source. No conntrack
 * entry pins a flow, so a client that keeps one socket for every query (stub resolvers,
 * dnsperf) moves to a new owner, or back to the target, with the very next packet, and
 * late replies of an instance that lost ownership still go out from the right address.
 *
 * TCP is NATed with conntrack: a new connection goes to the owner's listener, and an
 * established one stays with the instance that accepted it, which drains it.
 *
 * The dead man's switch: the targets are set elements with a short timeout that the
 * owner keeps refreshing. When dnsgate stops refreshing (crash, kill -9, hang), the
 * elements expire, the rules match nothing, and DNS goes to the targets as if dnsgate
 * were not there. Enforcement is untouched.
 */
import type { Endpoint } from '../net/address.js';
import { UPSTREAM_SOURCE_PORTS } from '../upstream/source-ports.js';

/** Names of every interception object; the enforcement swap keeps its hands off them. */
export const INTERCEPT_PREFIX = 'intercept_';

/** How long a target stays intercepted after its last refresh. */
export const LEASE_MS = 5000;
/** How often the owner refreshes the lease (several refreshes fit in one lease). */
export const REFRESH_MS = 1000;
/** How long the kernel remembers which target a client's UDP query went to. */
const FLOW_TIMEOUT = '30s';
/** Flows remembered per family: clients × their open ports. */
const FLOW_MAP_SIZE = 262144;
/** Before kube-proxy's DNAT (dstnat, -100), so a Service address is still what the packet carries. */
const TCP_NAT_PRIORITY = -110;

export type Hook = 'forward' | 'output';

/** A destination whose DNS dnsgate takes over: address and port. */
export interface Target {
  ip: string;
  port: number;
}

/** One dnsgate process's listeners, as the rules address them. */
export interface Instance {
  /** Per family, the listener intercepted traffic goes to (none: that family is not intercepted). */
  udp: Partial<Record<4 | 6, Endpoint>>;
  tcp: Partial<Record<4 | 6, Endpoint>>;
}

const FAMILIES = [4, 6] as const;

function familyOf(ip: string): 4 | 6 {
  return ip.includes(':') ? 6 : 4;
}

function addrType(family: 4 | 6): string {
  return family === 4 ? 'ipv4_addr' : 'ipv6_addr';
}

function ipKeyword(family: 4 | 6): string {
  return family === 4 ? 'ip' : 'ip6';
}

/**
 * Where the kernel remembers which target a client's UDP query went to: maps keyed by
 * the client's port and address. An IPv6 key holds the last 12 bytes of the address
 * only: nft 1.0.6 gives the key of a dynamic map update one 16-byte register, so the
 * value it loads next overwrites whatever of a longer key lies past it (port and whole
 * address are 20 bytes; address first fails an assertion). Two clients whose addresses
 * differ in their first 32 bits alone, querying from the same port within FLOW_TIMEOUT,
 * would share an entry; a node's pods take their addresses from one pod CIDR.
 * IPv6's maps are named apart from the whole-address ones a table made by an earlier
 * dnsgate may hold: `add` of a map of another type fails.
 */
const FLOWS = {
  4: {
    addr: `${INTERCEPT_PREFIX}flow_addr4`,
    port: `${INTERCEPT_PREFIX}flow_port4`,
    key: 'type inet_service . ipv4_addr',
    addrValue: 'ipv4_addr',
    portValue: 'inet_service',
    client: { query: 'udp sport . ip saddr', reply: 'udp dport . ip daddr' },
  },
  6: {
    addr: `${INTERCEPT_PREFIX}flow6_addr`,
    port: `${INTERCEPT_PREFIX}flow6_port`,
    key: 'typeof udp sport . @nh,96,96',
    addrValue: 'ip6 daddr',
    portValue: 'udp dport',
    // Bytes 4-15 of the source address (offset 8), of the destination address (offset 24).
    client: { query: 'udp sport . @nh,96,96', reply: 'udp dport . @nh,224,96' },
  },
} as const;

/** Chains are named after their hook, so a change of --nft-hook never redefines one in place. */
export function chainNames(hook: Hook): { capture: string; reply: string; tcp: string } {
  return { capture: `${INTERCEPT_PREFIX}capture_${hook}`, reply: `${INTERCEPT_PREFIX}reply`, tcp: `${INTERCEPT_PREFIX}tcp_${hook}` };
}

/** Sets and maps, added if missing (an `add` of an identical set changes nothing). */
export function setsText(table: string): string {
  const lines: string[] = [`add table inet ${table}`];
  for (const family of FAMILIES) {
    const addr = addrType(family);
    lines.push(
      `add set inet ${table} ${INTERCEPT_PREFIX}targets${family} { type ${addr} . inet_proto . inet_service; flags timeout; }`,
      `add set inet ${table} ${INTERCEPT_PREFIX}instances${family} { type ${addr} . inet_service; flags timeout; }`,
      `add map inet ${table} ${FLOWS[family].addr} { ${FLOWS[family].key} : ${FLOWS[family].addrValue}; flags timeout; size ${FLOW_MAP_SIZE}; }`,
      `add map inet ${table} ${FLOWS[family].port} { ${FLOWS[family].key} : ${FLOWS[family].portValue}; flags timeout; size ${FLOW_MAP_SIZE}; }`,
    );
  }
  return `${lines.join('\n')}\n`;
}

function endpointText(endpoint: Endpoint): string {
  return endpoint.family === 6 ? `[${endpoint.host}]:${endpoint.port}` : `${endpoint.host}:${endpoint.port}`;
}

/**
 * The rule that sends UDP to the owner: what the rules of `instance` say. Also how a
 * process recognises, at stop, that it is still the owner.
 */
export function udpCaptureRule(family: 4 | 6, listener: Endpoint): string {
  const ip = ipKeyword(family);
  const flows = FLOWS[family];
  const remember =
    `update @${flows.addr} { ${flows.client.query} timeout ${FLOW_TIMEOUT} : ${ip} daddr } ` +
    `update @${flows.port} { ${flows.client.query} timeout ${FLOW_TIMEOUT} : udp dport }`;
  return `${ip} daddr . meta l4proto . th dport @${INTERCEPT_PREFIX}targets${family} meta l4proto udp ${remember} ${ip} daddr set ${listener.host} udp dport set ${listener.port} notrack`;
}

/**
 * The chains, pointing at `instance`: replacing them in one transaction is how an
 * instance takes over from its predecessor.
 */
export function chainsText(table: string, hook: Hook, instance: Instance): string {
  const names = chainNames(hook);
  const t = `inet ${table}`;
  // In the pod's netns (output), the capture must reroute after changing the destination;
  // on the node (prerouting), routing comes after the hook anyway.
  const capture =
    hook === 'forward'
      ? `type filter hook prerouting priority raw; policy accept;`
      : `type route hook output priority raw; policy accept;`;
  const tcpHook = hook === 'forward' ? 'prerouting' : 'output';
  const lines = [
    setsText(table).trimEnd(),
    `add chain ${t} ${names.capture} { ${capture} }`,
    `add chain ${t} ${names.reply} { type filter hook output priority raw; policy accept; }`,
    `add chain ${t} ${names.tcp} { type nat hook ${tcpHook} priority ${TCP_NAT_PRIORITY}; policy accept; }`,
    `flush chain ${t} ${names.capture}`,
    `flush chain ${t} ${names.reply}`,
    `flush chain ${t} ${names.tcp}`,
  ];
  // In the pod's netns, dnsgate's own upstream traffic leaves from these source ports (see
  // source-ports.ts). On the node, what comes in over loopback was sent by the node itself,
  // never by a pod: dnsgate's own upstream queries come back in there when a Service's
  // endpoint is an address of the node (CoreDNS on the host network), and are not taken over.
  const own =
    hook === 'output' ? `meta l4proto { udp, tcp } th sport ${UPSTREAM_SOURCE_PORTS.first}-${UPSTREAM_SOURCE_PORTS.last} return` : 'iif "lo" return';
  lines.push(`add rule ${t} ${names.capture} ${own}`, `add rule ${t} ${names.tcp} ${own}`);
  for (const family of FAMILIES) {
    const ip = ipKeyword(family);
    const udp = instance.udp[family];
    if (udp) lines.push(`add rule ${t} ${names.capture} ${udpCaptureRule(family, udp)}`);
    const tcp = instance.tcp[family];
    if (tcp) {
      lines.push(`add rule ${t} ${names.tcp} ${ip} daddr . meta l4proto . th dport @${INTERCEPT_PREFIX}targets${family} meta l4proto tcp dnat ${ip} to ${endpointText(tcp)}`);
    }
    // Replies of every live instance, the owner's and its predecessor's late ones alike.
    lines.push(
      `add rule ${t} ${names.reply} ${ip} saddr . udp sport @${INTERCEPT_PREFIX}instances${family} ` +
        `${ip} saddr set ${FLOWS[family].client.reply} map @${FLOWS[family].addr} ` +
        `udp sport set ${FLOWS[family].client.reply} map @${FLOWS[family].port} notrack`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** `add`, `delete`, `add` in one transaction: nft 1.0.6 does not refresh the timeout of an existing element on add. */
function refreshElements(t: string, set: string, keys: readonly string[], lines: string[]): void {
  if (keys.length === 0) return;
  const timed = keys.map((key) => `${key} timeout ${LEASE_MS}ms`).join(', ');
  lines.push(`add element ${t} ${set} { ${timed} }`, `delete element ${t} ${set} { ${keys.join(', ')} }`, `add element ${t} ${set} { ${timed} }`);
}

function removeElements(t: string, set: string, keys: readonly string[], lines: string[]): void {
  if (keys.length === 0) return;
  // Adding first makes the delete succeed whether or not the element is still there.
  lines.push(`add element ${t} ${set} { ${keys.join(', ')} }`, `delete element ${t} ${set} { ${keys.join(', ')} }`);
}

function targetKeys(targets: readonly Target[], family: 4 | 6): string[] {
  return targets.filter((target) => familyOf(target.ip) === family).flatMap((target) => [`${target.ip} . udp . ${target.port}`, `${target.ip} . tcp . ${target.port}`]);
}

function instanceKeys(instance: Instance, family: 4 | 6): string[] {
  const udp = instance.udp[family];
  return udp ? [`${udp.host} . ${udp.port}`] : [];
}

export interface LeaseChange {
  table: string;
  instance: Instance;
  /** Targets to keep intercepting (only the owner refreshes these). */
  targets: readonly Target[];
  /** Targets no longer wanted. */
  dropped: readonly Target[];
}

/** One refresh of the leases: this instance's listeners and, for the owner, the targets. */
export function leaseText(change: LeaseChange): string {
  const t = `inet ${change.table}`;
  const lines: string[] = [];
  for (const family of FAMILIES) {
    refreshElements(t, `${INTERCEPT_PREFIX}instances${family}`, instanceKeys(change.instance, family), lines);
    refreshElements(t, `${INTERCEPT_PREFIX}targets${family}`, targetKeys(change.targets, family), lines);
    removeElements(t, `${INTERCEPT_PREFIX}targets${family}`, targetKeys(change.dropped, family), lines);
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** Ends interception at once: the targets go, so the next packet reaches them directly. */
export function releaseText(table: string): string {
  return FAMILIES.map((family) => `flush set inet ${table} ${INTERCEPT_PREFIX}targets${family}`).join('\n') + '\n';
}
