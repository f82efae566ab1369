/** `GET /v1/allowed[?client=IP]`: the allowed-IP map as product.md shows it. */
import type { JsonReply } from '../admin/server.js';
import { canonicalIp } from '../net/address.js';
import type { AllowedEntry } from './entry.js';
import type { AllowedMap } from './map.js';

export interface AllowedEntryJson {
  client: { ip: string; namespace: string; name: string } | null;
  ip: string;
  domains: string[];
  rules: string[];
  expiresAt: string;
}

function toJson(entry: AllowedEntry): AllowedEntryJson {
  return {
    client: entry.client && { ip: entry.client.queriedFrom, namespace: entry.client.namespace, name: entry.client.name },
    ip: entry.ip,
    domains: [...entry.domains],
    rules: [...entry.rules],
    expiresAt: new Date(entry.expiresAt).toISOString(),
  };
}

/**
 * Entries usable by the pod at `?client=IP`: in pod scope its own; in node scope those
 * learnt for a rule that applies to it (`clientRules` gives those rule references).
 */
export function allowedEntriesReply(
  map: AllowedMap,
  params: URLSearchParams,
  clientRules: (ip: string) => { podKey: string | undefined; rules: ReadonlySet<string> },
): JsonReply {
  const clientParam = params.get('client');
  let keep: (entry: AllowedEntry) => boolean = () => true;
  if (clientParam !== null) {
    const ip = canonicalIp(clientParam);
    if (ip === undefined) return { status: 400, body: { error: `client: not an IP address: ${JSON.stringify(clientParam)}` } };
    const { podKey, rules } = clientRules(ip);
    keep = (entry) => (entry.client === null ? entry.rules.some((rule) => rules.has(rule)) : entry.client.key === podKey);
  }
  const entries: AllowedEntryJson[] = [];
  for (const entry of map.all()) if (keep(entry)) entries.push(toJson(entry));
  entries.sort((a, b) => (a.client?.name ?? '').localeCompare(b.client?.name ?? '') || a.ip.localeCompare(b.ip));
  return { status: 200, body: { entries } };
}
