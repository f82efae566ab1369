/** Shared by the DNS log tests: a pods file, a query as the pipeline gets it, reading `dns.log`, and the schema check. */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import dnsPacket from 'dns-packet';
import { QueryView, parseQuery } from '../../src/dns/message.js';
import { LineChunker, type Lines } from '../../src/logs/line-queue.js';
import { Query } from '../../src/query.js';

export interface PodFixture {
  name: string;
  namespace: string;
  ip: string;
  generateName?: string;
  labels?: Record<string, string>;
}

/** Writes `pods` as Pod objects (the `kubectl get pods -o yaml` shape) to `dir/pods.yaml`. */
export function writePodsFile(dir: string, pods: readonly PodFixture[]): string {
  const documents = pods.map((pod) =>
    [
      'apiVersion: v1',
      'kind: Pod',
      'metadata:',
      `  name: ${pod.name}`,
      `  namespace: ${pod.namespace}`,
      ...(pod.generateName ? [`  generateName: ${pod.generateName}`] : []),
      ...(pod.labels ? ['  labels:', ...Object.entries(pod.labels).map(([key, value]) => `    ${key}: ${JSON.stringify(value)}`)] : []),
      'spec:',
      '  containers: [{ name: main, image: busybox }]',
      'status:',
      `  podIP: ${pod.ip}`,
    ].join('\n'),
  );
  const path = join(dir, 'pods.yaml');
  writeFileSync(path, documents.join('\n---\n') + '\n');
  return path;
}

/**
 * A UDP query for `name` (type A, ID 7) from `clientIp`, received at `receivedAt`, as a
 * listener hands it to the pipeline; `flags` as dns-packet takes them. Its answers go nowhere.
 */
export function udpQuery(name: string, clientIp: string, receivedAt: number, flags = 0): Query {
  const message = dnsPacket.encode({ type: 'query', id: 7, flags, questions: [{ type: 'A', name }] });
  const view = new QueryView();
  parseQuery(message, view);
  return new Query('udp', message, view, clientIp, 40000, { deliver: () => undefined, discard: () => undefined }, receivedAt);
}

export type LogRecord = Record<string, unknown>;

/** Every record in `text`, each checked against the schema. */
export function parseRecords(text: string): LogRecord[] {
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => {
      const record = JSON.parse(line) as LogRecord;
      assertSchema(record);
      return record;
    });
}

export function readRecords(path: string): LogRecord[] {
  return existsSync(path) ? parseRecords(readFileSync(path, 'utf8')) : [];
}

const LOG_KEYS = [
  'start_time', 'end_time', 'type', 'count', 'client_name', 'client_name_aggr', 'client_namespace', 'client_ip', 'client_labels',
  'servers', 'qname', 'qclass', 'qtype', 'rcode', 'rrsets', 'latency', 'latency_count', 'latency_mean', 'latency_max', 'host',
];
const UNLOGGED_KEYS = ['start_time', 'end_time', 'type', 'count'];
/** Go's time.RFC3339Nano in UTC: up to nine fraction digits, trailing zeros trimmed, no fraction when zero. */
const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{0,8}[1-9])?Z$/;

function assertString(value: unknown, what: string): asserts value is string {
  assert.equal(typeof value, 'string', `${what} is a string`);
}

function assertCount(value: unknown, what: string, min = 1): void {
  assert.ok(Number.isSafeInteger(value) && (value as number) >= min, `${what} is an integer >= ${min}: ${JSON.stringify(value)}`);
}

function assertLabels(value: unknown, what: string): void {
  assert.ok(typeof value === 'object' && value !== null && !Array.isArray(value), `${what} is an object`);
  const keys = Object.keys(value);
  assert.deepEqual(keys, [...keys].sort(), `${what} keys are sorted`);
  for (const key of keys) assertString((value as Record<string, unknown>)[key], `${what}.${key}`);
}

/** The schema of `shared/spec/dns-log-schema.md`: keys and their order, types, time format. */
export function assertSchema(record: LogRecord): void {
  const json = JSON.stringify(record);
  assert.ok(record.type === 'log' || record.type === 'unlogged', `type is log or unlogged: ${json}`);
  assert.deepEqual(Object.keys(record), record.type === 'log' ? LOG_KEYS : UNLOGGED_KEYS, `keys in schema order: ${json}`);
  for (const key of ['start_time', 'end_time']) {
    assert.match(record[key] as string, TIME, `${key} is RFC 3339 UTC with nanoseconds, trailing zeros trimmed`);
    assert.ok(!Number.isNaN(Date.parse(record[key] as string)), `${key} is a valid time`);
  }
  assert.ok(timeNs(record.start_time as string) <= timeNs(record.end_time as string), `start_time <= end_time: ${json}`);
  assertCount(record.count, 'count');
  if (record.type === 'unlogged') return;

  for (const key of ['client_name', 'client_name_aggr', 'client_namespace', 'qname', 'qclass', 'qtype', 'rcode', 'host']) assertString(record[key], key);
  assert.ok(record.client_ip === null || typeof record.client_ip === 'string', 'client_ip is a string or null');
  if (record.client_labels !== null) assertLabels(record.client_labels, 'client_labels');
  assert.ok(Array.isArray(record.servers), 'servers is an array');
  for (const server of record.servers as Record<string, unknown>[]) {
    const keys = Object.keys(server);
    assert.deepEqual(keys, ['name', 'name_aggr', 'namespace', 'ip', 'labels'].slice(0, keys.length), `server keys in order: ${json}`);
    for (const key of ['name', 'name_aggr', 'namespace', 'ip']) assertString(server[key], `servers[].${key}`);
    if ('labels' in server) {
      assertLabels(server.labels, 'servers[].labels');
      assert.ok(Object.keys(server.labels as object).length > 0, 'server labels are omitted when empty');
    }
  }
  const qname = record.qname as string;
  assert.equal(qname, qname.toLowerCase(), 'qname is lowercase');
  assert.ok(!qname.endsWith('.'), 'qname has no trailing dot');
  assert.ok(record.rrsets === null || (Array.isArray(record.rrsets) && record.rrsets.length > 0), 'rrsets is null or a non-empty array');
  for (const rrset of (record.rrsets ?? []) as Record<string, unknown>[]) {
    assert.deepEqual(Object.keys(rrset), ['name', 'class', 'type', 'rdata'], `rrset keys in order: ${json}`);
    assertString(rrset.name, 'rrsets[].name');
    // gopacket's name, else the number.
    for (const key of ['class', 'type']) assert.ok(typeof rrset[key] === 'string' || Number.isSafeInteger(rrset[key]), `rrsets[].${key} is a string or an integer`);
    assert.equal(rrset.name, (rrset.name as string).toLowerCase(), 'rrset names are lowercase');
    const rdata = rrset.rdata as unknown[];
    assert.ok(Array.isArray(rdata) && rdata.length > 0 && rdata.every((item) => typeof item === 'string'), 'rdata is a non-empty array of strings');
  }
  const latency = record.latency as Record<string, unknown>;
  assert.deepEqual(Object.keys(latency), ['count', 'mean', 'max'], 'latency keys in order');
  assertCount(latency.count, 'latency.count');
  assertCount(latency.mean, 'latency.mean', 0);
  assertCount(latency.max, 'latency.max', 0);
  assert.equal(latency.count, record.count, 'latency.count is count');
  assert.ok((latency.max as number) >= (latency.mean as number), 'latency max >= mean');
  assert.equal(record.latency_count, latency.count);
  assert.equal(record.latency_mean, latency.mean);
  assert.equal(record.latency_max, latency.max);
}

/** The records about `qname` (type `log`). */
export function about(records: readonly LogRecord[], qname: string): LogRecord[] {
  return records.filter((record) => record.type === 'log' && record.qname === qname);
}

/** Nanoseconds since the epoch of a record time. */
export function timeNs(text: string): bigint {
  const [seconds, fraction = ''] = text.slice(0, -1).split('.');
  return BigInt(Date.parse(`${seconds}Z`)) * 1_000_000n + BigInt(fraction.padEnd(9, '0'));
}

/** `text` (lines each ending in a newline) encoded as the renderer hands lines to a queue, in chunks of `chunkBytes`. */
export function chunkedLines(text: readonly string[], chunkBytes?: number): Lines {
  const chunker = new LineChunker(chunkBytes);
  for (const line of text) chunker.add(line.endsWith('\n') ? line.slice(0, -1) : line);
  return chunker.finish();
}

/** What `lines` hold, as one string. */
export function linesText(lines: Lines): string {
  return Buffer.concat(lines.chunks).toString();
}
