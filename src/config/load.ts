/** Resolves the `serve` configuration: defaults, then the YAML file, then flags. */
import { readFileSync } from 'node:fs';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Node as YamlNode } from 'yaml';
import { parseEndpoint } from '../net/address.js';
import { MAX_UPSTREAMS, UpstreamSpec } from '../upstream/spec.js';
import { checkNesting, SourceError } from '../yaml/documents.js';
import { InputTooLarge, readInputFileSync } from '../yaml/read.js';
import { Config, GivenOptions, OPTIONS, OptionName, RawValue, defaultNodeName, keyOf, rawDefault } from './options.js';
import { ConfigError, errorText } from '../util/errors.js';


const RESOLV_CONF = '/etc/resolv.conf';

export function resolvConfNameservers(path = RESOLV_CONF): UpstreamSpec[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const servers: UpstreamSpec[] = [];
  for (const line of text.split('\n')) {
    const match = /^\s*nameserver\s+(\S+)/.exec(line);
    const endpoint = match && parseEndpoint(match[1].split('%')[0], 53);
    if (endpoint) servers.push({ kind: 'address', endpoint });
  }
  return servers;
}

/** Config fields whose defaults depend on other settings. */
type ResolvedLater = 'upstream' | 'logStdout' | 'logFlushInterval';

const NAME_BY_KEY = new Map<string, OptionName>(
  (Object.keys(OPTIONS) as OptionName[]).map((name) => [keyOf(name), name]),
);

function parseValue(name: OptionName, raw: RawValue | RawValue[], where: string): unknown {
  const def = OPTIONS[name];
  try {
    if (def.repeatable) return (Array.isArray(raw) ? raw : [raw]).map((item) => def.parse(item));
    if (Array.isArray(raw)) throw new Error('expected a single value, got a list');
    return def.parse(raw);
  } catch (error) {
    throw new ConfigError(`${where}: ${(error as Error).message}`);
  }
}

/**
 * The defaults of the OPTIONS table, parsed as given values are. Those `--help` describes
 * in words are undefined here: upstream, logStdout and logFlushInterval are resolved by
 * resolveConfig, and the node name is looked up below.
 */
function defaults(): Omit<Config, ResolvedLater> {
  const values: Record<string, unknown> = {};
  for (const name of Object.keys(OPTIONS) as OptionName[]) {
    const raw = rawDefault(OPTIONS[name]);
    values[name] = raw === undefined ? undefined : parseValue(name, raw, `default of --${keyOf(name)}`);
  }
  values.policies = [];
  values.intercept = [];
  values.nodeName = defaultNodeName();
  return values as Omit<Config, ResolvedLater>;
}

/** Options from flags: raw strings collected by commander, keyed by option name. */
export function parseFlagValues(raw: Partial<Record<OptionName, RawValue | RawValue[]>>): GivenOptions {
  const given: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(raw) as [OptionName, RawValue | RawValue[]][]) {
    if (value === undefined) continue;
    given[name] = parseValue(name, value, `--${keyOf(name)}`);
  }
  return given as GivenOptions;
}

function scalarValue(node: YamlNode | null | undefined): RawValue | undefined {
  if (!isScalar(node)) return undefined;
  const value = node.value;
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? value : undefined;
}

/** Options from a YAML config file; every error names `file:line:col`. */
export function loadConfigFile(path: string): GivenOptions {
  let text: string;
  try {
    text = readInputFileSync(path);
  } catch (error) {
    if (error instanceof InputTooLarge) throw new ConfigError(`${path}:1:1: ${error.message}`);
    throw new ConfigError(`${path}: cannot read config file: ${errorText(error)}`);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const at = (offset: number | undefined): string => {
    const { line, col } = lineCounter.linePos(offset ?? 0);
    return `${path}:${line}:${col}`;
  };
  try {
    checkNesting(text, at);
  } catch (error) {
    if (error instanceof SourceError) throw new ConfigError(error.message);
    throw error;
  }
  if (doc.errors.length > 0) throw new ConfigError(`${at(doc.errors[0].pos[0])}: ${doc.errors[0].message.split('\n')[0]}`);
  if (doc.contents === null) return {};
  if (!isMap(doc.contents)) throw new ConfigError(`${at(doc.contents.range?.[0])}: expected a mapping of option keys`);
  const given: Record<string, unknown> = {};
  for (const pair of doc.contents.items) {
    const keyNode = pair.key as YamlNode;
    const key = String(scalarValue(keyNode) ?? '');
    const name = NAME_BY_KEY.get(key);
    if (!name) throw new ConfigError(`${at(keyNode.range?.[0])}: unknown key ${JSON.stringify(key)}`);
    const valueNode = pair.value as YamlNode | null;
    const where = `${at(valueNode?.range?.[0] ?? keyNode.range?.[0])}: ${key}`;
    let raw: RawValue | RawValue[];
    if (isSeq(valueNode)) {
      raw = valueNode.items.map((item) => {
        const value = scalarValue(item as YamlNode);
        if (value === undefined) throw new ConfigError(`${at((item as YamlNode).range?.[0])}: ${key}: expected a scalar`);
        return value;
      });
    } else {
      const value = scalarValue(valueNode);
      if (value === undefined) throw new ConfigError(`${where}: expected a value`);
      raw = value;
    }
    given[name] = parseValue(name, raw, where);
  }
  return given as GivenOptions;
}

/**
 * The DNS log window when none is given. Calico's 300 s suits a log pipeline; the dev
 * resolver (nothing from Kubernetes, no log files, nothing enforced) is watched by a
 * person on stdout, who should see a query's record within about a second.
 */
function defaultLogFlushInterval(config: Pick<Config, 'kubernetes' | 'logDir' | 'dataplane'>): number {
  const devResolver = !config.kubernetes && config.logDir === undefined && config.dataplane === 'none';
  return devResolver ? 1000 : 300_000;
}

/** Defaults, overridden by the config file, overridden by flags; then cross-checks. */
export function resolveConfig(flags: GivenOptions, file: GivenOptions = {}): Config {
  const merged = { ...defaults(), ...file, ...flags } as Omit<Config, ResolvedLater> & GivenOptions;
  const upstream = merged.upstream ?? resolvConfNameservers();
  if (upstream.length === 0) throw new ConfigError(`--upstream: none given and ${RESOLV_CONF} lists no nameserver`);
  if (upstream.length > MAX_UPSTREAMS) throw new ConfigError(`--upstream: ${upstream.length} given, at most ${MAX_UPSTREAMS} are supported`);
  const config: Config = {
    ...merged,
    upstream,
    logStdout: merged.logStdout ?? merged.logDir === undefined,
    logFlushInterval: merged.logFlushInterval ?? defaultLogFlushInterval(merged),
  };
  if (config.maxTtl < config.minTtl) {
    throw new ConfigError(`--max-ttl: ${config.maxTtl}ms is below --min-ttl ${config.minTtl}ms`);
  }
  if (config.localPod !== undefined && config.pods === undefined && !config.kubernetes) {
    throw new ConfigError('--local-pod: needs --pods or --kubernetes to know that pod');
  }
  if (config.kubernetes && config.pods !== undefined) {
    throw new ConfigError('--pods: pods come from the Kubernetes API with --kubernetes; give one or the other');
  }
  if (config.queryTimeout < config.upstreamTimeout) {
    throw new ConfigError(`--query-timeout: shorter than --upstream-timeout, so no upstream would get its full wait`);
  }
  return config;
}
