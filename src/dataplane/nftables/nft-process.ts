/**
 * The driver: one long-lived `nft -i` through which every transaction goes, one at a
 * time, each acknowledged before the next.
 *
 * nft runs each line of interactive input as one transaction, and reads that input one
 * byte per read(2) (about 3 µs a byte here): a batch of a hundred elements would take
 * 20 ms. So a short transaction whose lines are whole commands (a batch of a few
 * elements, what a held answer usually waits for, when batches cannot go over
 * netlink: see netlink.ts) is sent as one line, its commands
 * joined by `;`: one pipe write and one wake-up of nft. Any other is written to a file
 * and the process told `include "FILE"`, which nft reads in blocks; the include is one
 * input line too, so the whole file is one transaction. Writing the file costs the
 * event loop three round trips to libuv's thread pool, each a chance for the scheduler
 * to make a held answer wait.
 *
 * The acknowledgement: after each include, a line that is not a command. nft answers it
 * on stderr with a syntax error that quotes the line, after whatever the include itself
 * reported there, in order (stderr is unbuffered). So the include succeeded exactly when
 * nothing precedes the quoted marker.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The command of `quoted` (a line nft quotes in an error) that the carets under it
 * point at: an inline transaction is several commands joined by `;` on one line.
 */
function commandAt(quoted: string | undefined, carets: string | undefined): string | undefined {
  if (quoted === undefined) return undefined;
  const column = carets?.indexOf('^') ?? -1;
  if (column < 0) return quoted.trim();
  const start = quoted.lastIndexOf('; ', column) + 1;
  const end = quoted.indexOf('; ', column);
  return quoted.slice(start, end < 0 ? undefined : end).trim();
}

/** A transaction nft refused: `message` is nft's first error and the command it names; `report` all it said. */
export class NftError extends Error {
  constructor(readonly report: string) {
    const lines = report.split('\n');
    const at = lines.findIndex((line) => line.includes('Error: '));
    const command = at >= 0 ? commandAt(lines[at + 1], lines[at + 2]) : undefined;
    const summary = at >= 0 ? lines[at].slice(lines[at].indexOf('Error: ') + 'Error: '.length) : lines[0];
    super(command ? `${summary}: ${command.length > 160 ? `${command.slice(0, 160)}…` : command}` : summary);
  }
}

/**
 * Where transaction files go: /dev/shm when there is one. Rewriting a file on a disk
 * filesystem such as ext4 flushes it on close, which doubled the round trip of a batch.
 */
function memoryDir(): string {
  try {
    accessSync('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

/**
 * Longest transaction sent inline: past it, nft's byte-at-a-time reading costs more
 * than writing and including a file (about 0.35 ms more a transaction, measured with
 * nft 1.0.6). One element's add, delete and add again fits.
 */
const INLINE_MAX_BYTES = 320;

/** True when every line of `text` is a whole command (no block opens at a line's end), so that `;` can join them. */
function isInlinable(text: string): boolean {
  return text.length <= INLINE_MAX_BYTES && !/\{\s*\n/.test(text) && !text.includes('#');
}

/** A transaction that outlasts this is taken for a hung nft, which is killed. */
const TRANSACTION_TIMEOUT_MS = 60_000;

interface Job {
  marker: string;
  resolve(): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

export class NftProcess {
  private child: ChildProcessWithoutNullStreams | undefined;
  private stderr = '';
  private job: Job | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private sequence = 0;
  private stopped = false;
  /** Holds the transaction file and nft's input history; made with the first transaction. */
  private dir: string | undefined;

  constructor(
    /** The argv of `nft -i` (tests run it inside a network namespace). */
    private readonly command: readonly [string, readonly string[]],
    /** Called when the process exits on its own, with what it said last. */
    private readonly onExit: (reason: string) => void,
  ) {}

  /** Runs `text` as one transaction; resolves once nft applied it, rejects with NftError when nft refused it. */
  run(text: string): Promise<void> {
    const run = this.queue.then(() => this.runNow(text));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async runNow(text: string): Promise<void> {
    if (this.stopped) throw new Error('nft process stopped');
    // Made once, at the first transaction (start-up), so batches do no directory work.
    const dir = (this.dir ??= mkdtempSync(join(memoryDir(), 'dnsgate-nft-')));
    let line: string;
    if (isInlinable(text)) {
      line = text.trim().split('\n').join('; ');
    } else {
      const file = join(dir, 'transaction.nft');
      // Batches carry answers waiting to go out: no synchronous I/O on their way.
      await writeFile(file, text);
      if (this.stopped) throw new Error('nft process stopped');
      line = `include "${file}"`;
    }
    const child = this.child ?? this.spawn(dir);
    const marker = `dnsgate-ack-${++this.sequence}`;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), TRANSACTION_TIMEOUT_MS);
      this.job = { marker, resolve, reject, timer };
      child.stdin.write(`${line}\n${marker}\n`);
    });
  }

  private spawn(dir: string): ChildProcessWithoutNullStreams {
    const [file, args] = this.command;
    // nft -i keeps a history of its input in $HOME: here, in the private directory.
    const child = spawn(file, [...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, HOME: dir } });
    this.child = child;
    this.stderr = '';
    child.stdout.resume();
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      this.stderr += chunk;
      this.settle();
    });
    // A write to a process that just died fails; its exit reports it.
    child.stdin.on('error', () => undefined);
    child.on('error', (error) => this.exited(child, error.message));
    child.on('exit', (code, signal) => this.exited(child, signal ? `killed by ${signal}` : `exited with ${code}`));
    return child;
  }

  /** Completes the job once its marker's error (message, quoted line, caret line) has arrived. */
  private settle(): void {
    const job = this.job;
    if (!job) return;
    const lines = this.stderr.split('\n');
    const at = lines.indexOf(job.marker);
    // The caret line under the quoted marker ends the acknowledgement.
    if (at < 1 || lines.length < at + 3) return;
    const reported = lines.slice(0, at - 1).join('\n').trim();
    this.stderr = lines.slice(at + 2).join('\n');
    this.job = undefined;
    clearTimeout(job.timer);
    if (reported === '') job.resolve();
    else job.reject(new NftError(reported));
  }

  private exited(child: ChildProcessWithoutNullStreams, how: string): void {
    if (this.child !== child) return;
    this.child = undefined;
    const said = this.stderr.trim().split('\n').slice(-3).join(' ');
    const reason = `nft ${how}${said ? `: ${said}` : ''}`;
    const job = this.job;
    this.job = undefined;
    if (job) {
      clearTimeout(job.timer);
      job.reject(new Error(reason));
    }
    if (!this.stopped) this.onExit(reason);
  }

  /** Ends the process once the transactions queued so far are done. */
  async stop(): Promise<void> {
    await this.queue;
    this.stopped = true;
    const child = this.child;
    if (child) {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.stdin.end();
      await gone;
    }
    if (this.dir !== undefined) rmSync(this.dir, { recursive: true, force: true });
  }
}
