/**
 * Reads DNS log records, in the schema dnsgate writes (Calico Enterprise's), from files,
 * from a log directory with its rotated files, or from stdin. Only what a recommendation
 * needs is kept of each record; lines that are not records are counted, not fatal.
 */
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { errorText } from '../util/errors.js';

export interface ObservedRrset {
  name: string;
  type: string;
  rdata: readonly string[];
}

/** What a recommendation reads of one `type: log` record. */
export interface ObservedAnswer {
  startTime: string;
  endTime: string;
  /** Answers the record aggregates. */
  count: number;
  clientNamespace: string;
  clientNameAggr: string;
  /** Null when the log was written without labels. */
  clientLabels: Readonly<Record<string, string>> | null;
  qname: string;
  rcode: string;
  rrsets: readonly ObservedRrset[];
}

export interface LogReadSummary {
  /** Files read, in the order read (oldest rotated file first); `-` for stdin. */
  files: string[];
  /** Lines that were no DNS log record (not JSON, or fields missing). */
  unreadable: number;
}

/** A path that cannot be read: the command stops with one line naming it. */
export class LogPathError extends Error {}

const LOG_FILE = 'dns.log';
const ROTATED = /^dns\.log\.(\d+)$/;

/**
 * The files of a log directory, oldest first: `dns.log.N` … `dns.log.1`, then `dns.log`,
 * as numbered rotation leaves them.
 */
async function directoryFiles(dir: string): Promise<string[]> {
  const names = await readdir(dir);
  const rotated = names
    .map((name) => ({ name, number: Number(ROTATED.exec(name)?.[1] ?? Number.NaN) }))
    .filter((entry) => Number.isInteger(entry.number))
    .sort((a, b) => b.number - a.number)
    .map((entry) => join(dir, entry.name));
  return [...rotated, ...(names.includes(LOG_FILE) ? [join(dir, LOG_FILE)] : [])];
}

async function expand(path: string): Promise<string[]> {
  if (path === '-') return ['-'];
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    throw new LogPathError(`--logs ${path}: cannot read: ${errorText(error)}`);
  }
  if (!info.isDirectory()) return [path];
  const files = await directoryFiles(path);
  if (files.length === 0) throw new LogPathError(`--logs ${path}: no ${LOG_FILE} or rotated ${LOG_FILE}.N in this directory`);
  return files;
}

function isStringMap(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((item) => typeof item === 'string');
}

function parseRrsets(value: unknown): ObservedRrset[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const rrsets: ObservedRrset[] = [];
  for (const item of value as unknown[]) {
    if (typeof item !== 'object' || item === null) return undefined;
    const { name, type, rdata } = item as Record<string, unknown>;
    if (typeof name !== 'string' || typeof type !== 'string' || !Array.isArray(rdata)) return undefined;
    rrsets.push({ name, type, rdata: rdata.filter((data): data is string => typeof data === 'string') });
  }
  return rrsets;
}

/** The record on `line`, null for a record of another type (`unlogged`), undefined when unreadable. */
export function parseLogLine(line: string): ObservedAnswer | null | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Record<string, unknown>;
  if (record.type !== 'log') return typeof record.type === 'string' ? null : undefined;
  const rrsets = parseRrsets(record.rrsets);
  const labels = record.client_labels;
  if (
    typeof record.start_time !== 'string' ||
    typeof record.end_time !== 'string' ||
    !Number.isSafeInteger(record.count) ||
    typeof record.client_namespace !== 'string' ||
    typeof record.client_name_aggr !== 'string' ||
    !(labels === null || isStringMap(labels)) ||
    typeof record.qname !== 'string' ||
    typeof record.rcode !== 'string' ||
    rrsets === undefined
  ) {
    return undefined;
  }
  return {
    startTime: record.start_time,
    endTime: record.end_time,
    count: record.count as number,
    clientNamespace: record.client_namespace,
    clientNameAggr: record.client_name_aggr,
    clientLabels: labels,
    qname: record.qname,
    rcode: record.rcode,
    rrsets,
  };
}

/**
 * Calls `onAnswer` for each record under `paths` (files, directories, `-` for `stdin`),
 * reading one line at a time.
 */
export async function readLogs(paths: readonly string[], onAnswer: (answer: ObservedAnswer) => void, stdin: Readable = process.stdin): Promise<LogReadSummary> {
  const summary: LogReadSummary = { files: [], unreadable: 0 };
  const files: string[] = [];
  for (const path of paths) files.push(...(await expand(path)));
  for (const file of files) {
    const input = file === '-' ? stdin : createReadStream(file, 'utf8');
    const opened = new Promise<void>((resolve, reject) => {
      if (file === '-') resolve();
      input.once('error', (error: Error) => reject(new LogPathError(`--logs ${file}: cannot read: ${errorText(error)}`)));
      input.once('open', () => resolve());
    });
    await opened;
    summary.files.push(file);
    for await (const line of createInterface({ input, crlfDelay: Infinity })) {
      if (line.trim() === '') continue;
      const answer = parseLogLine(line);
      if (answer === undefined) summary.unreadable++;
      else if (answer !== null) onAnswer(answer);
    }
  }
  return summary;
}
