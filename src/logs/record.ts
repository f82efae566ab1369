/**
 * The DNS log record of Calico Enterprise (`shared/spec/dns-log-schema.md`). JSON keeps
 * the insertion order of keys, and consumers of Calico's logs expect the schema's
 * order, so records are built as literals in exactly the order declared here.
 */

export type Labels = Record<string, string>;

export interface LogServer {
  name: string;
  name_aggr: string;
  namespace: string;
  ip: string;
  /** Omitted when empty or when labels are off. */
  labels?: Labels;
}

export interface LogRrset {
  name: string;
  /** gopacket's name, else the number (an OPT record's class is its UDP size). */
  class: string | number;
  /** gopacket's name, else the number. */
  type: string | number;
  rdata: string[];
}

export interface LogLatency {
  count: number;
  mean: number;
  max: number;
}

export interface DnsLogRecord {
  start_time: string;
  end_time: string;
  type: 'log';
  count: number;
  client_name: string;
  client_name_aggr: string;
  client_namespace: string;
  client_ip: string | null;
  /** `{}` for a client that is no pod; null only when labels are off. */
  client_labels: Labels | null;
  servers: LogServer[];
  qname: string;
  qclass: string;
  qtype: string;
  rcode: string;
  /** null when the answer has no records. */
  rrsets: LogRrset[] | null;
  latency: LogLatency;
  latency_count: number;
  latency_mean: number;
  latency_max: number;
  host: string;
}

/** Responses past the per-node limit in one window. */
export interface UnloggedRecord {
  start_time: string;
  end_time: string;
  type: 'unlogged';
  count: number;
}
