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

/** A batch unanswered for this long is taken as lost. */
const ANSWER_TIMEOUT_MS = 5_000;

/**
 * The most commands and elements a batch sent over netlink may carry. The kernel answers
 * every failed command with an error that echoes it, and a socket whose receive buffer
 * (about 208 KiB by default) overflows reports ENOBUFS through an error that the
 * `netlink` package's native part cannot survive (it aborts the process). So a batch
 * stays small enough that all its errors fit several times over (at most about 16 KiB of
 * commands); larger ones, resyncs and bulk removals, go through nft, which no answer
 * waits for. What an answer waits for is a few commands.
 */
const MAX_COMMANDS = 32;
const MAX_ELEMENTS = 256;

/** Whether `commands` may go over netlink (see MAX_COMMANDS). */
export function fitsNetlink(commands: readonly ElementCommand[]): boolean {
  if (commands.length > MAX_COMMANDS) return false;
  let elements = 0;
  for (const command of commands) elements += command.elements.length;
  return elements <= MAX_ELEMENTS;
}

interface InFlight {
  batch: NetlinkBatch;
  commands: readonly ElementCommand[];
  resolve(): void;
  reject(error: Error): void;
  /** Settles, never rejecting, once the batch is answered or given up on. */
  settled: Promise<void>;
  timer: NodeJS.Timeout;
}

const nothing = (): void => undefined;

/** `no such file or directory (ENOENT)`, as nft would say it. */
function errnoText(errno: number): string {
  const [name, message] = getSystemErrorMap().get(-errno) ?? [`errno ${errno}`, 'error'];
  return `${message} (${name})`;
}

export class NetlinkElements {
  private sequence = 1;
  private readonly inFlight = new Set<InFlight>();
  /** Why the socket may no longer be used (closed, or it reported an error); batches then go through nft. */
  private unusable: string | undefined;

  private constructor(
    private readonly socket: NetlinkRaw.RawNetlinkSocket,
    private readonly table: string,
  ) {
    socket.on('message', (datagram) => this.received(datagram));
    // Replies were lost: the batch in flight cannot be known to be in effect, and
    // answers still queued could be taken for a later batch's.
    socket.on('error', (error) => this.retire(`netlink: ${error.message}`));
    socket.on('close', () => this.retire('netlink socket closed'));
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

  /** Settles once every batch sent so far is answered or given up on. */
  async answered(): Promise<void> {
    if (this.inFlight.size > 0) await Promise.all([...this.inFlight].map((flight) => flight.settled));
  }

  /** Why batches can no longer go this way, once the socket failed or closed. */
  get unusableReason(): string | undefined {
    return this.unusable;
  }

  /** Applies `commands` (at most MAX_COMMANDS) as one transaction; resolves once the kernel has it in effect. */
  run(commands: readonly ElementCommand[]): Promise<void> {
    if (!fitsNetlink(commands)) return Promise.reject(new RangeError(`netlink: ${commands.length} commands are too many for one batch`));
    if (commands.length === 0) return Promise.resolve();
    return this.send(encodeBatch(this.table, commands, this.nextSequence(commands.length + 2)), commands);
  }

  close(): void {
    if (this.unusable !== undefined) return;
    this.retire('netlink socket closed');
    this.socket.close();
  }

  /** The first of `count` sequence numbers, kept well inside 32 bits. */
  private nextSequence(count: number): number {
    if (this.sequence + count > 0x7fff_ffff) this.sequence = 1;
    const first = this.sequence;
    this.sequence += count;
    return first;
  }

  /**
   * Sends `batch` at once, whatever is still unanswered: the kernel applies each batch
   * inside its sendmsg, so batches take effect in the order they are sent.
   */
  private send(batch: NetlinkBatch, commands: readonly ElementCommand[]): Promise<void> {
    if (this.unusable !== undefined) return Promise.reject(new Error(this.unusable));
    let resolve: () => void = nothing;
    let reject: (error: Error) => void = nothing;
    const answer = new Promise<void>((onResolve, onReject) => ([resolve, reject] = [onResolve, onReject]));
    const timer = setTimeout(() => this.finish(flight, new Error(`netlink: no answer in ${ANSWER_TIMEOUT_MS} ms`)), ANSWER_TIMEOUT_MS);
    const flight: InFlight = { batch, commands, resolve, reject, settled: answer.then(nothing, nothing), timer };
    this.inFlight.add(flight);
    try {
      this.socket.ref();
      this.socket.send(batch.bytes, {}, (error) => {
        if (error) this.finish(flight, new Error(`netlink: sendmsg: ${error.code ?? error.message}`));
      });
    } catch (error) {
      // A socket the package closed itself refuses at once.
      this.retire(`netlink: ${(error as Error).message}`);
    }
    return answer;
  }

  private received(datagram: Buffer): void {
    for (const { sequence, errno } of readAnswers(datagram)) {
      // Answers to a batch given up on belong to no flight.
      for (const flight of this.inFlight) {
        if (sequence < flight.batch.firstSequence || sequence > flight.batch.lastSequence) continue;
        // Any error means the kernel aborted the whole batch; it may send nothing more.
        if (errno !== 0) this.finish(flight, new Error(this.describe(flight, errno, sequence)));
        else if (sequence === flight.batch.lastSequence) this.finish(flight, undefined);
        break;
      }
    }
  }

  private describe(flight: InFlight, errno: number, sequence: number): string {
    const command = flight.commands[sequence - flight.batch.firstSequence - 1];
    const text = command ? commandsText(this.table, [command]).trim() : `table inet ${this.table}`;
    const what = text.length > 160 ? `${text.slice(0, 160)}…` : text;
    return `netlink: ${errnoText(errno)}: ${what}`;
  }

  private retire(reason: string): void {
    this.unusable ??= reason;
    for (const flight of this.inFlight) this.finish(flight, new Error(reason));
  }

  private finish(flight: InFlight, error: Error | undefined): void {
    if (!this.inFlight.delete(flight)) return;
    clearTimeout(flight.timer);
    if (this.inFlight.size === 0 && this.unusable === undefined) this.socket.unref();
    if (error) flight.reject(error);
    else flight.resolve();
  }
}
