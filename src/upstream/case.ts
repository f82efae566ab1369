/**
 * 0x20 randomisation (draft-vixie-dnsext-dns0x20): the letters of the question name
 * go upstream in random case, and a reply must echo that case exactly. A forger who
 * cannot see the query must guess one bit per letter on top of the ID and the port.
 * The client gets its own casing back: restoring the question bytes it sent is, with
 * the ID, the only change dnsgate makes to an upstream reply (besides truncation).
 */
import { HEADER_LENGTH } from '../dns/constants.js';
import type { Query } from '../query.js';
import type { RandomIds } from '../util/random.js';

/** Saves the client's question name and sends a random casing of it instead. */
export function randomizeCase(query: Query, ids: RandomIds): void {
  const message = query.message;
  const nameEnd = query.questionEnd - 4;
  query.clientName ??= Buffer.from(message.subarray(HEADER_LENGTH, nameEnd));
  let bits = 0;
  let left = 0;
  for (let i = HEADER_LENGTH; i < nameEnd; i++) {
    const folded = message[i] | 0x20;
    // Length bytes (at most 63) never fold into a letter.
    if (folded < 0x61 || folded > 0x7a) continue;
    if (left === 0) {
      bits = ids.nextId();
      left = 16;
    }
    message[i] = bits & 1 ? folded & ~0x20 : folded;
    bits >>>= 1;
    left--;
  }
}

/** Puts the client's casing back into the query and, when given, into its reply. */
export function restoreCase(query: Query, reply?: Buffer): void {
  const name = query.clientName;
  if (name === undefined) return;
  name.copy(query.message, HEADER_LENGTH);
  reply?.set(name, HEADER_LENGTH);
}
