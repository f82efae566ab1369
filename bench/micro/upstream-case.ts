/**
 * What `--upstream-case-randomization` (0x20) adds to a query: the copy of the client's
 * name, one random bit per letter, the exact-case check of the reply and the copy of the
 * client's casing back into query and reply. Timed against the same round without it
 * (the echo and the case-insensitive check), on the sample query of codec.ts.
 * `node dist/bench/micro/upstream-case.js` prints the figures.
 */
import { fileURLToPath } from 'node:url';
import { QueryView, parseQuery, replyMatchesQuery } from '../../src/dns/message.js';
import { Query, type Responder } from '../../src/query.js';
import { randomizeCase, restoreCase } from '../../src/upstream/case.js';
import { RandomIds } from '../../src/util/random.js';
import { SAMPLE_ANSWER, SAMPLE_QUERY } from './codec.js';
import { nsPerCall, type Figure } from './measure.js';

const NO_CLIENT: Responder = { deliver: () => undefined, discard: () => undefined };

export function benchUpstreamCase(): Figure[] {
  const view = new QueryView();
  parseQuery(SAMPLE_QUERY, view);
  const query = new Query('udp', Buffer.from(SAMPLE_QUERY), view, '10.0.0.1', 40000, NO_CLIENT, 0);
  const reply = Buffer.from(SAMPLE_ANSWER);
  const ids = new RandomIds();
  const { questionEnd } = query;
  // The upstream's part: it echoes the question as it was sent.
  const echo = () => query.message.copy(reply, 12, 12, questionEnd);
  const plainNs = nsPerCall(() => {
    echo();
    return checked(replyMatchesQuery(reply, query.message, questionEnd));
  }, 1_000_000);
  const randomizedNs = nsPerCall(() => {
    // Each query saves its own client's name.
    query.clientName = undefined;
    randomizeCase(query, ids);
    echo();
    const matches = checked(replyMatchesQuery(reply, query.message, questionEnd, true));
    restoreCase(query, reply);
    return matches;
  }, 1_000_000);
  return [
    { name: 'upstream round, case-insensitive reply check', value: Math.round(plainNs), unit: 'ns/query' },
    { name: 'upstream round with 0x20: randomise, exact check, restore', value: Math.round(randomizedNs), unit: 'ns/query' },
    { name: '0x20 case randomisation, added per query', value: Math.round(randomizedNs - plainNs), unit: 'ns/query' },
  ];
}

/** A reply that does not match would time a path no query takes. */
function checked(matches: boolean): boolean {
  if (!matches) throw new Error('the echoed reply does not match its query');
  return matches;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const figure of benchUpstreamCase()) console.log(`${figure.name}: ${figure.value} ${figure.unit}`);
}
