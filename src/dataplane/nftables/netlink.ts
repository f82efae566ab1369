/**
 * Batches of learnt elements sent to the kernel over a netlink socket of dnsgate's own,
 * instead of through nft. A batch that an answer waits for then costs one sendmsg, in
 * which the kernel applies it, and one wake-up of the event loop for its
 * acknowledgement: no other process is scheduled between an answer and its release.
 * nft's round trip was the whole tail of the hold.
 *
 * The socket is the `netlink` package's: non-blocking, sendmsg straight from the event
 * loop (as a UDP send is), replies read when libuv sees the socket readable. Its
 * native part ships prebuilt; where it cannot load, or where dnsgate's process may not
 * change the ruleset itself (a container that gives CAP_NET_ADMIN to the nft binary
 * only), `open` says why and batches keep going through nft.
 */
import { getSystemErrorMap } from 'node:util';
import { createRequire } from 'node:module';
import type * as NetlinkRaw from 'netlink/dist/raw.js';
import { encodeBatch, encodeTableProbe, readAnswers, type NetlinkBatch } from './netlink-batch.js';
import { commandsText, type ElementCommand } from './transaction.js';

const NETLINK_NETFILTER = 12;

/** A batch unanswered for this long is taken as lost (the kernel drops replies when the socket's buffer is full). */
const ANSWER_TIMEOUT_MS = 5_000;

/**
 * Largest batch sent over netlink: a socket takes at most its send buffer (about 208 KiB
 * by default) in one sendmsg. Larger ones, resyncs and expiry extensions in bulk, go
 * through nft, which no answer waits for.
 */
export const NETLINK_MAX_BATCH_BYTES = 128 * 1024;

interface InFlight {
  batch: NetlinkBatch;
  commands: readonly ElementCommand[];
  failure: { errno: number; sequence: number } | undefined;
  resolve(): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/** `no such file or directory (ENOENT)`, as nft would say it. */
function errnoText(errno: number): string {
  const [name, message] = getSystemErrorMap().get(-errno) ?? [`errno ${errno}`, 'error'];
  return `${message} (${name})`;
}

export class NetlinkElements {
  private sequence = 1;
  private inFlight: InFlight | undefined;

  private constructor(
    private readonly socket: NetlinkRaw.RawNetlinkSocket,
    private readonly table: string,
  ) {
    socket.on('message', (datagram) => this.received(datagram));
    // Replies lost to a full receive buffer: the batch in flight cannot be known to be in effect.
    socket.on('error', (error) => this.finish(new Error(`netlink: ${error.message}`)));
    socket.unref();
  }

  /**
   * A socket for batches on `inet TABLE`, once the kernel answered a request for the
   * table from this process (it exists, and the process holds CAP_NET_ADMIN); otherwise
   * why not.
   */
  static async open(table: string): Promise<NetlinkElements | string> {
    let socket: NetlinkRaw.RawNetlinkSocket;
    try {
      const { RawNetlinkSocket: Socket } = createRequire(import.meta.url)('netlink/dist/raw.js') as typeof NetlinkRaw;
      socket = new Socket(NETLINK_NETFILTER);
    } catch (error) {
      return `netlink unavailable: ${(error as Error).message.split('\n')[0]}`;
    }
    const elements = new NetlinkElements(socket, table);
    try {
      await elements.send(encodeTableProbe(table, elements.nextSequence(1)), []);
      return elements;
    } catch (error) {
      elements.close();
      return (error as Error).message;
    }
  }

  /** `commands` (at least one) as one batch, to `send` unless it exceeds NETLINK_MAX_BATCH_BYTES. */
  encode(commands: readonly ElementCommand[]): NetlinkBatch {
    return encodeBatch(this.table, commands, this.nextSequence(commands.length + 2));
  }

  close(): void {
    this.finish(new Error('netlink socket closed'));
    this.socket.close();
  }

  /** The first of `count` sequence numbers, kept well inside 32 bits. */
  private nextSequence(count: number): number {
    if (this.sequence + count > 0x7fff_ffff) this.sequence = 1;
    const first = this.sequence;
    this.sequence += count;
    return first;
  }

  /** Applies `batch`, encoded from `commands`, as one transaction; resolves once the kernel has it in effect. */
  send(batch: NetlinkBatch, commands: readonly ElementCommand[]): Promise<void> {
    if (this.inFlight) return Promise.reject(new Error('netlink: a batch is already in flight'));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => this.finish(new Error(`netlink: no answer in ${ANSWER_TIMEOUT_MS} ms`)), ANSWER_TIMEOUT_MS);
      this.inFlight = { batch, commands, failure: undefined, resolve, reject, timer };
      this.socket.ref();
      try {
        this.socket.send(batch.bytes, {}, (error) => {
          if (error) this.finish(new Error(`netlink: sendmsg: ${error.code ?? error.message}`));
        });
      } catch (error) {
        // A closed socket refuses at once.
        this.finish(error as Error);
      }
    });
  }

  private received(datagram: Buffer): void {
    const flight = this.inFlight;
    if (!flight) return;
    const { firstSequence, lastSequence } = flight.batch;
    for (const { sequence, errno } of readAnswers(datagram)) {
      // Answers to an earlier batch given up on are not this one's.
      if (sequence < firstSequence || sequence > lastSequence) continue;
      if (errno !== 0) flight.failure ??= { errno, sequence };
      if (sequence === lastSequence || (sequence === firstSequence && errno !== 0)) {
        this.finish(flight.failure ? new Error(this.describe(flight, flight.failure)) : undefined);
        return;
      }
    }
  }

  private describe(flight: InFlight, failure: { errno: number; sequence: number }): string {
    const command = flight.commands[failure.sequence - flight.batch.firstSequence - 1];
    const text = command ? commandsText(this.table, [command]).trim() : `table inet ${this.table}`;
    const what = text.length > 160 ? `${text.slice(0, 160)}…` : text;
    return `netlink: ${errnoText(failure.errno)}: ${what}`;
  }

  private finish(error: Error | undefined): void {
    const flight = this.inFlight;
    if (!flight) return;
    this.inFlight = undefined;
    clearTimeout(flight.timer);
    this.socket.unref();
    if (error) flight.reject(error);
    else flight.resolve();
  }
}
