/**
 * Element commands as one nf_tables netlink batch, and the kernel's replies to it.
 *
 * A batch is NFNL_MSG_BATCH_BEGIN, one NFT_MSG_NEWSETELEM or NFT_MSG_DELSETELEM per
 * command, and NFNL_MSG_BATCH_END: the kernel applies it as one transaction, as nft does
 * its input. Only the last command asks for an acknowledgement. The kernel reports the
 * error of every command that failed, in order, before that acknowledgement, and on a
 * failure it may still acknowledge the last command with 0 (the batch is aborted all the
 * same), so a batch is in effect exactly when nothing but a 0 answers it. When the
 * kernel cannot even queue its errors, or refuses the whole batch (no CAP_NET_ADMIN),
 * it answers the BATCH_BEGIN alone.
 *
 * Attribute layouts are those of linux/netfilter/nf_tables.h; the payload of a
 * concatenated key is each field padded to 4 bytes, and addresses are multiples of 4.
 */
import { IPv6 } from 'ip-num';
import type { ElementCommand } from './transaction.js';

const NFNL_SUBSYS_NFTABLES = 10;
const NFNL_MSG_BATCH_BEGIN = 0x10;
const NFNL_MSG_BATCH_END = 0x11;
const NFT_MSG_GETTABLE = 1;
const NFT_MSG_NEWSETELEM = 12;
const NFT_MSG_DELSETELEM = 14;
const NFPROTO_INET = 1;
const NLMSG_ERROR = 2;

const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_CREATE = 0x400;
const NLA_F_NESTED = 0x8000;

const NFTA_TABLE_NAME = 1;
const NFTA_SET_ELEM_LIST_TABLE = 1;
const NFTA_SET_ELEM_LIST_SET = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS = 3;
const NFTA_LIST_ELEM = 1;
const NFTA_SET_ELEM_KEY = 1;
const NFTA_SET_ELEM_TIMEOUT = 4;
const NFTA_DATA_VALUE = 1;

const HEADER = 16 + 4; // nlmsghdr + nfgenmsg
const ATTR = 4;

const align4 = (length: number): number => (length + 3) & ~3;

/** Bytes of an address's key field. */
function fieldLength(address: string): number {
  return address.includes(':') ? 16 : 4;
}

function writeAddress(address: string, into: Buffer, offset: number): number {
  if (!address.includes(':')) {
    let at = offset;
    for (const octet of address.split('.')) into[at++] = Number(octet);
    return offset + 4;
  }
  const value = IPv6.fromString(address).getValue();
  into.writeBigUInt64BE(value >> 64n, offset);
  into.writeBigUInt64BE(value & 0xffff_ffff_ffff_ffffn, offset + 8);
  return offset + 16;
}

class Writer {
  offset = 0;
  constructor(readonly buffer: Buffer) {}

  header(type: number, flags: number, sequence: number, family: number, resourceId: number, length: number): void {
    const { buffer, offset } = this;
    buffer.writeUInt32LE(length, offset);
    buffer.writeUInt16LE(type, offset + 4);
    buffer.writeUInt16LE(flags, offset + 6);
    buffer.writeUInt32LE(sequence >>> 0, offset + 8);
    buffer.writeUInt32LE(0, offset + 12);
    buffer[offset + 16] = family;
    buffer[offset + 17] = 0;
    buffer.writeUInt16BE(resourceId, offset + 18);
    this.offset += HEADER;
  }

  /** An attribute header; its payload follows, written by the caller. */
  attribute(type: number, length: number): void {
    this.buffer.writeUInt16LE(length, this.offset);
    this.buffer.writeUInt16LE(type, this.offset + 2);
    this.offset += ATTR;
  }

  string(type: number, text: string): void {
    this.attribute(type, ATTR + text.length + 1);
    this.offset += this.buffer.write(text, this.offset, 'latin1');
    this.buffer[this.offset] = 0;
    this.offset = align4(this.offset + 1);
  }
}

/** Length of one element's NFTA_LIST_ELEM, and of its key's value. */
function elementLength(key: string, timeoutMs: number | undefined): { element: number; value: number } {
  let value = 0;
  for (const field of key.split(' . ')) value += fieldLength(field);
  return { element: ATTR + ATTR + ATTR + value + (timeoutMs === undefined ? 0 : ATTR + 8), value };
}

function stringLength(text: string): number {
  return align4(ATTR + text.length + 1);
}

/** A batch ready to send, and how to read the kernel's answers to it. */
export interface NetlinkBatch {
  bytes: Buffer;
  /** Sequence number of BATCH_BEGIN; the commands follow it, one each. */
  firstSequence: number;
  /** Sequence number of the command that asks for the acknowledgement. */
  lastSequence: number;
}

/** Encodes `commands` on the learnt sets of `inet TABLE` as one batch, numbered from `firstSequence`. */
export function encodeBatch(table: string, commands: readonly ElementCommand[], firstSequence: number): NetlinkBatch {
  const lengths = commands.map(({ set, elements }) => {
    const each = elements.map(({ key, timeoutMs }) => elementLength(key, timeoutMs));
    const list = ATTR + each.reduce((sum, { element }) => sum + element, 0);
    // Attribute lengths are 16 bits: ELEMENTS_PER_COMMAND keeps a list of IPv6 pairs well under.
    if (list > 0xffff) throw new RangeError(`nftables: ${elements.length} elements are too many for one netlink command`);
    return { each, list, message: HEADER + stringLength(table) + stringLength(set) + list };
  });
  const total = HEADER * 2 + lengths.reduce((sum, { message }) => sum + message, 0);
  const writer = new Writer(Buffer.alloc(total));
  let sequence = firstSequence;
  writer.header(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, sequence, 0, NFNL_SUBSYS_NFTABLES, HEADER);
  commands.forEach(({ verb, set, elements }, index) => {
    const { each, list, message } = lengths[index];
    const last = index === commands.length - 1;
    const type = (NFNL_SUBSYS_NFTABLES << 8) | (verb === 'add' ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM);
    const flags = NLM_F_REQUEST | (verb === 'add' ? NLM_F_CREATE : 0) | (last ? NLM_F_ACK : 0);
    writer.header(type, flags, ++sequence, NFPROTO_INET, 0, message);
    writer.string(NFTA_SET_ELEM_LIST_TABLE, table);
    writer.string(NFTA_SET_ELEM_LIST_SET, set);
    writer.attribute(NFTA_SET_ELEM_LIST_ELEMENTS | NLA_F_NESTED, list);
    elements.forEach(({ key, timeoutMs }, at) => {
      const { element, value } = each[at];
      writer.attribute(NFTA_LIST_ELEM | NLA_F_NESTED, element);
      writer.attribute(NFTA_SET_ELEM_KEY | NLA_F_NESTED, ATTR + ATTR + value);
      writer.attribute(NFTA_DATA_VALUE, ATTR + value);
      for (const field of key.split(' . ')) writer.offset = writeAddress(field, writer.buffer, writer.offset);
      if (timeoutMs !== undefined) {
        writer.attribute(NFTA_SET_ELEM_TIMEOUT, ATTR + 8);
        writer.buffer.writeBigUInt64BE(BigInt(timeoutMs), writer.offset);
        writer.offset += 8;
      }
    });
  });
  writer.header(NFNL_MSG_BATCH_END, NLM_F_REQUEST, ++sequence, 0, NFNL_SUBSYS_NFTABLES, HEADER);
  return { bytes: writer.buffer, firstSequence, lastSequence: sequence - 1 };
}

/**
 * A request for `inet TABLE` that asks for an acknowledgement: the kernel answers 0
 * when the table exists and the sender may read and change the ruleset (both need
 * CAP_NET_ADMIN), and changes nothing.
 */
export function encodeTableProbe(table: string, sequence: number): NetlinkBatch {
  const message = HEADER + stringLength(table);
  const writer = new Writer(Buffer.alloc(message));
  writer.header((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE, NLM_F_REQUEST | NLM_F_ACK, sequence, NFPROTO_INET, 0, message);
  writer.string(NFTA_TABLE_NAME, table);
  return { bytes: writer.buffer, firstSequence: sequence, lastSequence: sequence };
}

/** One NLMSG_ERROR the kernel sent: the sequence number it answers and the errno (0: acknowledged). */
export interface NetlinkAnswer {
  sequence: number;
  errno: number;
}

/** The NLMSG_ERROR messages of one datagram from the kernel; anything else is skipped. */
export function readAnswers(datagram: Buffer): NetlinkAnswer[] {
  const answers: NetlinkAnswer[] = [];
  for (let offset = 0; offset + 16 <= datagram.length; ) {
    const length = datagram.readUInt32LE(offset);
    if (length < 16 || offset + length > datagram.length) break;
    if (datagram.readUInt16LE(offset + 4) === NLMSG_ERROR && length >= 20) {
      answers.push({ sequence: datagram.readUInt32LE(offset + 8), errno: -datagram.readInt32LE(offset + 16) | 0 });
    }
    offset += align4(length);
  }
  return answers;
}
