/**
 * The health probe of an upstream that is being skipped: `. IN NS`, as CoreDNS's forward
 * plugin sends it, from a socket of its own, so it is no client query and the query
 * path never sees it. Any reply with the probe's ID and question means the upstream
 * answers again.
 */
import { createSocket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import { readId, replyMatchesQuery, writeId } from '../dns/message.js';
import type { Endpoint } from '../net/address.js';

/** `. IN NS` with ID 0 (set per probe). */
const PROBE_MESSAGE = Buffer.from([0, 0, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1]);

/** Resolves true when `endpoint` answers the probe within `timeoutMs`, else false. Never rejects. */
export function probeUpstream(endpoint: Endpoint, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket(endpoint.family === 6 ? 'udp6' : 'udp4');
    const message = Buffer.from(PROBE_MESSAGE);
    const id = randomInt(65536);
    writeId(message, id);
    let settled = false;
    const done = (answered: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.close();
      resolve(answered);
    };
    // Neither keeps the process alive when it stops meanwhile.
    const timer = setTimeout(() => done(false), timeoutMs).unref();
    socket.unref();
    socket.on('error', () => done(false));
    socket.on('message', (reply) => {
      if (readId(reply) === id && replyMatchesQuery(reply, message, PROBE_MESSAGE.length)) done(true);
    });
    // Node reports a failed connect (no route) to the callback; sending then would throw.
    const connected = ((error?: Error) => (error ? done(false) : socket.send(message))) as () => void;
    socket.connect(endpoint.port, endpoint.host, connected);
  });
}
