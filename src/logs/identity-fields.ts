/**
 * Who asked and who answered, in the schema's terms: the client and server fields of
 * a record from a pod (or from a bare IP when no pod owns it), for each aggregation kind.
 */
import type { Pod } from '../identity/pod.js';
import { isPrivateIp } from '../net/cidr.js';
import type { Labels, LogServer } from './record.js';

/** Calico's `DNSLogsFileAggregationKind`. */
export const enum AggregationKind {
  /** Client name and IP kept: one record per pod. */
  Client = 0,
  /** Client name `-` and IP null: the pods of one ReplicaSet share records. */
  ClientPrefix = 1,
}

export interface ClientFields {
  name: string;
  nameAggr: string;
  namespace: string;
  ip: string | null;
}

const UNKNOWN = '-';

/** `generateName` + `*` (`web-7d9c8b7f4-*`), else the pod name. */
function aggregatedName(pod: Pod): string {
  return pod.generateName ? `${pod.generateName}*` : pod.name;
}

/** A non-pod address as Felix names it: `pvt` (IPv4 RFC 1918) or `pub`. */
function addressClass(ip: string): 'pvt' | 'pub' {
  return isPrivateIp(ip) ? 'pvt' : 'pub';
}

export function clientFields(kind: AggregationKind, ip: string, pod: Pod | undefined): ClientFields {
  const keepClient = kind === AggregationKind.Client;
  if (pod === undefined) return { name: UNKNOWN, nameAggr: addressClass(ip), namespace: UNKNOWN, ip: keepClient ? ip : null };
  return { name: keepClient ? pod.name : UNKNOWN, nameAggr: aggregatedName(pod), namespace: pod.namespace, ip: keepClient ? ip : null };
}

/**
 * A string equal for two (ip, pod) pairs exactly when their client fields are equal.
 * The separators cannot occur in IPs or Kubernetes names.
 */
export function clientKey(kind: AggregationKind, ip: string, pod: Pod | undefined): string {
  const fields = clientFields(kind, ip, pod);
  return `${fields.name}/${fields.nameAggr}/${fields.namespace}/${fields.ip ?? ''}`;
}

export function serverFields(ip: string, pod: Pod | undefined, includeLabels: boolean): LogServer {
  if (pod === undefined) return { name: UNKNOWN, name_aggr: addressClass(ip), namespace: UNKNOWN, ip };
  const server: LogServer = { name: pod.name, name_aggr: aggregatedName(pod), namespace: pod.namespace, ip };
  if (includeLabels && Object.keys(pod.labels).length > 0) server.labels = sortedLabels(pod.labels);
  return server;
}

/** The labels both sides have with the same value. */
export function intersectLabels(a: Readonly<Labels>, b: Readonly<Labels>): Labels {
  const common: Labels = {};
  for (const key of Object.keys(a)) if (b[key] === a[key]) common[key] = a[key];
  return common;
}

const CALICO_LABEL_PREFIX = 'projectcalico.org/';

/** The labels without Calico's own, as Felix merges the labels of two responses (`IntersectAndFilterLabels`). */
export function withoutCalicoLabels(labels: Readonly<Labels>): Labels {
  const kept: Labels = {};
  for (const key of Object.keys(labels)) if (!key.startsWith(CALICO_LABEL_PREFIX)) kept[key] = labels[key];
  return kept;
}

/** Keys in byte order, as Go's encoding/json writes the maps of Calico's records. */
export function sortedLabels(labels: Readonly<Labels>): Labels {
  const sorted: Labels = {};
  for (const key of Object.keys(labels).sort()) sorted[key] = labels[key];
  return sorted;
}
