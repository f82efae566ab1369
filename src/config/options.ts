/**
 * Every `serve` setting, defined once: its flag, its YAML key (the flag without
 * dashes), how a value is parsed, and its default. The CLI, the config file loader
 * and `--help` all read this table.
 */
import { hostname } from 'node:os';
import { parseDuration } from './duration.js';
import { Endpoint, isLoopback, parseEndpoint } from '../net/address.js';
import { UpstreamSpec, parseUpstreamSpec } from '../upstream/spec.js';

export type RawValue = string | number | boolean;

/**
 * A default: a value as a user would write it, parsed like one and shown as is in
 * `--help`; or, for one worked out at start-up (load.ts), the words `--help` shows.
 */
type DefaultValue = RawValue | { described: string };

export interface OptionDef<T, Repeatable extends boolean = boolean, Default extends DefaultValue | undefined = DefaultValue | undefined> {
  /** Commander's flag syntax, e.g. `--max-hold <duration>`. */
  flag: string;
  description: string;
  repeatable: Repeatable;
  /** Parses one value (one element of a repeatable option); throws with the reason. */
  parse(raw: RawValue): T;
  default: Default;
}

function option<T, const D extends DefaultValue | undefined = undefined>(
  flag: string,
  description: string,
  parse: (raw: RawValue) => T,
  defaultValue?: D,
): OptionDef<T, false, D> {
  return { flag, description, parse, repeatable: false, default: defaultValue as D };
}

function repeatable<T, const D extends DefaultValue | undefined = undefined>(
  flag: string,
  description: string,
  parse: (raw: RawValue) => T,
  defaultValue?: D,
): OptionDef<T, true, D> {
  return { flag, description, parse, repeatable: true, default: defaultValue as D };
}

/** The default as `--help` shows it, if there is one; a switch (a flag without a value) is on or off. */
export function defaultText(def: OptionDef<unknown>): string | undefined {
  const value = def.default;
  if (value === undefined) return undefined;
  if (typeof value === 'object') return value.described;
  if (typeof value === 'boolean' && !def.flag.includes(' ')) return value ? 'on' : 'off';
  return String(value);
}

/** The default as a user would write it, or undefined when there is none or it is worked out at start-up. */
export function rawDefault(def: OptionDef<unknown>): RawValue | undefined {
  const value = def.default;
  return typeof value === 'object' ? undefined : value;
}

function text(raw: RawValue): string {
  if (typeof raw !== 'string' || raw.length === 0) throw new Error(`expected a non-empty string, got ${JSON.stringify(raw)}`);
  return raw;
}

/** A parser of one of `choices`, which it carries for `--help` to list. */
type ChoiceParser<T extends string> = ((raw: RawValue) => T) & { choices: readonly T[] };

function oneOf<const T extends string>(...choices: T[]): ChoiceParser<T> {
  const parse = (raw: RawValue): T => {
    const value = String(raw);
    if (!(choices as string[]).includes(value)) throw new Error(`expected one of ${choices.join(', ')}, got ${JSON.stringify(raw)}`);
    return value as T;
  };
  return Object.assign(parse, { choices });
}

/** The values an option accepts, when it is one of a list. */
export function choicesOf(def: OptionDef<unknown>): readonly string[] | undefined {
  return (def.parse as Partial<ChoiceParser<string>>).choices;
}

function duration(raw: RawValue): number {
  const ms = typeof raw === 'number' && raw === 0 ? 0 : parseDuration(String(raw));
  if (ms === undefined) throw new Error(`expected a duration such as 500ms, 3s or 5m, got ${JSON.stringify(raw)}`);
  return ms;
}

function positiveDuration(raw: RawValue): number {
  const ms = duration(raw);
  if (ms <= 0) throw new Error(`expected a duration above zero, got ${JSON.stringify(raw)}`);
  return ms;
}

/** Node's timers take at most this (about 24.8 days); longer ones would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A positive duration that a timer waits for. */
function timerDuration(raw: RawValue): number {
  const ms = positiveDuration(raw);
  if (ms > MAX_TIMER_MS) throw new Error(`expected a duration up to ${MAX_TIMER_MS}ms (about 24 days), got ${JSON.stringify(raw)}`);
  return ms;
}

function integer(min: number, max = Number.MAX_SAFE_INTEGER): (raw: RawValue) => number {
  return (raw) => {
    const value = typeof raw === 'number' ? raw : typeof raw === 'string' && /^-?\d+$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new Error(`expected an integer from ${min}${max === Number.MAX_SAFE_INTEGER ? '' : ` to ${max}`}, got ${JSON.stringify(raw)}`);
    }
    return value;
  };
}

function boolean(raw: RawValue): boolean {
  if (raw === true || raw === 'true') return true;
  if (raw === false || raw === 'false') return false;
  throw new Error(`expected true or false, got ${JSON.stringify(raw)}`);
}

function listenEndpoint(raw: RawValue): Endpoint {
  const endpoint = parseEndpoint(String(raw));
  if (!endpoint) throw new Error(`expected IP:PORT or [IPv6]:PORT, got ${JSON.stringify(raw)}`);
  return endpoint;
}

function loopbackEndpoint(raw: RawValue): Endpoint {
  const endpoint = listenEndpoint(raw);
  if (!isLoopback(endpoint.host)) throw new Error(`expected a loopback address (127.0.0.0/8 or [::1]), got ${JSON.stringify(raw)}`);
  return endpoint;
}

function adminEndpoint(raw: RawValue): Endpoint | null {
  return raw === 'off' ? null : listenEndpoint(raw);
}

function upstream(raw: RawValue): UpstreamSpec {
  const spec = parseUpstreamSpec(String(raw));
  if (!spec) throw new Error(`expected IP, IP:PORT, [IPv6]:PORT or k8s-service:[NS/]NAME[:PORT], got ${JSON.stringify(raw)}`);
  return spec;
}

function domainName(raw: RawValue): string {
  const name = text(raw).toLowerCase().replace(/\.$/, '');
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(name)) throw new Error(`expected a domain name such as cluster.local, got ${JSON.stringify(raw)}`);
  return name;
}

function podKey(raw: RawValue): string {
  const key = text(raw);
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/.test(key)) throw new Error(`expected NAMESPACE/NAME, got ${JSON.stringify(raw)}`);
  return key;
}

function nftTableName(raw: RawValue): string {
  const name = text(raw);
  if (!/^[A-Za-z][A-Za-z0-9_]{0,31}$/.test(name)) throw new Error(`expected an nftables table name, got ${JSON.stringify(raw)}`);
  return name;
}

export const OPTIONS = {
  listen: repeatable('--listen <host:port>', 'UDP and TCP listener; IPv6 as [::1]:5353 (repeatable)', listenEndpoint, '127.0.0.1:5353'),
  upstream: repeatable('--upstream <server>', 'trusted DNS server: IP, IP:PORT, [IPv6]:PORT, k8s-service:[NS/]NAME[:PORT] (repeatable)', upstream, { described: 'nameservers of /etc/resolv.conf' }),
  policies: repeatable('--policies <path>', 'YAML/JSON file or directory of Calico v3 resources (repeatable)', text),
  pods: option('--pods <file>', 'Pod, Namespace and ServiceAccount objects, as kubectl get -o yaml prints them (namespace and service account labels are what namespaceSelector and serviceAccountSelector match)', text),
  localPod: option('--local-pod <namespace/name>', 'the pod that clients on 127.0.0.1 and ::1 are (sidecar and dev modes)', podKey),
  kubernetes: option('--kubernetes', 'read pods, namespaces, service accounts and policies from the Kubernetes API', boolean, false),
  policyMode: option('--policy-mode <mode>', 'NoDelay or DelayDNSResponse: hold each answer until the dataplane has its IPs', oneOf('NoDelay', 'DelayDNSResponse'), 'DelayDNSResponse'),
  maxHold: option('--max-hold <duration>', 'longest hold of an answer', timerDuration, '3s'),
  holdTimeoutAction: option('--hold-timeout-action <action>', 'after --max-hold: release the answer or answer SERVFAIL', oneOf('release', 'servfail'), 'release'),
  extraTtl: option('--extra-ttl <duration>', 'added to every learnt TTL (Calico DNSExtraTTL)', duration, '0s'),
  minTtl: option('--min-ttl <duration>', 'floor of learnt lifetimes', duration, '2s'),
  maxTtl: option('--max-ttl <duration>', 'ceiling of learnt lifetimes (7 days, RFC 8767)', positiveDuration, '168h'),
  scope: option('--scope <scope>', 'allowed IPs per pod, or node-wide as Calico shares them', oneOf('pod', 'node'), 'pod'),
  dataplane: option('--dataplane <dataplane>', 'who enforces the allowed-IP map', oneOf('none', 'nftables'), 'none'),
  denyResponse: option('--deny-response <rcode>', 'answer names no policy allows for an enforced pod with this rcode', oneOf('off', 'refused', 'nxdomain'), 'off'),
  audit: option('--audit', 'evaluate every policy and drop nothing: would-be drops are counted per rule, answers never refused', boolean, false),
  logDir: option('--log-dir <dir>', 'write DNS logs to DIR/dns.log', text),
  logStdout: option('--log-stdout [bool]', 'DNS log records as JSON lines on stdout', boolean, { described: 'on when no --log-dir' }),
  logFlushInterval: option('--log-flush-interval <duration>', 'DNS log aggregation window', timerDuration, { described: '1s for the dev resolver (no --kubernetes, no --log-dir, --dataplane none), else 300s as Calico' }),
  logAggregation: option('--log-aggregation <kind>', '0 keeps client names and IPs, 1 aggregates replicas (Calico DNSLogsFileAggregationKind)', integer(0, 1), 1),
  logPerNodeLimit: option('--log-per-node-limit <n>', 'distinct log records per window, 0 for no limit (Calico DNSLogsFilePerNodeLimit)', integer(0), 0),
  logIncludeLabels: option('--log-include-labels <bool>', 'include client labels in DNS logs', boolean, true),
  logMaxFileSizeMb: option('--log-max-file-size-mb <n>', 'rotate dns.log at this size', integer(1), 100),
  logMaxFiles: option('--log-max-files <n>', 'rotated files kept', integer(1), 5),
  admin: option('--admin <host:port>', 'admin HTTP server: health, readiness and metrics; the API (/v1/allowed, /v1/explain) too when on loopback or with --admin-token-file; or off', adminEndpoint, '127.0.0.1:9253'),
  adminPrivate: option('--admin-private <host:port>', 'a second admin listener, on loopback only, that serves the API without a token', loopbackEndpoint),
  adminTokenFile: option('--admin-token-file <path>', 'file holding a bearer token that opens the API on a non-loopback --admin', text),
  stateFile: option('--state-file <path>', 'persist learnt mappings and restore them at start', text),
  stateSaveInterval: option('--state-save-interval <duration>', 'how often --state-file is written (Calico DNSCacheSaveInterval)', timerDuration, '60s'),
  cacheSize: option('--cache-size <n>', 'response cache entries, 0 for off', integer(0), 0),
  upstreamCaseRandomization: option('--upstream-case-randomization [bool]', 'send question names upstream in random case (0x20) and drop replies that do not echo it; the upstream must preserve case', boolean, false),
  upstreamTimeout: option('--upstream-timeout <duration>', 'wait for one upstream before trying the next', timerDuration, '2s'),
  queryTimeout: option('--query-timeout <duration>', 'answer SERVFAIL when no upstream answered within this', timerDuration, '3s'),
  tcpIdleTimeout: option('--tcp-idle-timeout <duration>', 'close an idle client TCP connection (RFC 7766)', timerDuration, '10s'),
  tcpMaxConnections: option('--tcp-max-connections <n>', 'client TCP connections per listener', integer(1), 1000),
  maxIpsPerName: option('--max-ips-per-name <n>', 'allowed IPs kept per (client, name), oldest evicted first', integer(1), 1000),
  maxEntries: option('--max-entries <n>', 'allowed-IP map entries in all, and names kept for later policies in all', integer(1), 500_000),
  maxNamesPerPod: option('--max-names-per-pod <n>', 'answered names kept per pod for policies applied later, least recent dropped first', integer(1), 10_000),
  maxNamesPerEntry: option('--max-names-per-entry <n>', 'names listed per allowed IP, least recent dropped first (its rules stay)', integer(1), 64),
  nftTable: option('--nft-table <name>', 'nftables table (family inet) dnsgate owns', nftTableName, 'dnsgate'),
  nftHook: option('--nft-hook <hook>', 'forward (node-local: pods routed through this host) or output (sidecar: the pod\'s own namespace)', oneOf('forward', 'output'), 'forward'),
  intercept: repeatable('--intercept <target>', 'take DNS to this target over, transparently: IP, IP:PORT, [IPv6]:PORT, k8s-service:[NS/]NAME[:PORT] (repeatable; needs nft and CAP_NET_ADMIN)', upstream),
  clusterDomain: repeatable('--cluster-domain <domain>', 'names under it are never refused by --deny-response (repeatable)', domainName, 'cluster.local'),
  readyFile: option('--ready-file <path>', 'written once dnsgate is ready (and intercepting), removed at stop: for exec probes that must not depend on the admin port', text),
  nodeName: option('--node-name <name>', 'the host field of DNS logs', text, { described: '$NODE_NAME, else the hostname' }),
} as const;

export type OptionName = keyof typeof OPTIONS;

type GivenValue<D> = D extends OptionDef<infer T, true> ? T[] : D extends OptionDef<infer T, false> ? T : never;

/** Values as given by flags or the config file, before defaults. */
export type GivenOptions = { -readonly [K in OptionName]?: GivenValue<(typeof OPTIONS)[K]> };

/**
 * A value once defaults apply: a repeatable option is a list (empty when not given); an
 * option with a default always has a value; one without may be undefined. A default
 * `--help` describes in words is worked out at start-up where resolveConfig says so.
 */
type ResolvedValue<D> =
  D extends OptionDef<infer T, true> ? T[] : D extends OptionDef<infer T, false, infer Default> ? (Default extends RawValue ? T : T | undefined) : never;

/** Options whose described default resolveConfig works out, so that they always have a value. */
type WorkedOut = 'upstream' | 'logStdout' | 'logFlushInterval' | 'nodeName';

/** The `serve` configuration, derived from OPTIONS (durations in milliseconds). */
export type Config = { -readonly [K in Exclude<OptionName, WorkedOut>]: ResolvedValue<(typeof OPTIONS)[K]> } & {
  -readonly [K in WorkedOut]: NonNullable<GivenValue<(typeof OPTIONS)[K]>>;
};

/** The YAML key of an option: its flag without the dashes. */
export function keyOf(name: OptionName): string {
  return OPTIONS[name].flag.slice(2).split(' ')[0];
}

export function defaultNodeName(): string {
  return process.env.NODE_NAME ?? hostname();
}
