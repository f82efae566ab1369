/** knot itself, queried directly: the ceiling, and the baseline of added latency. */
import { HOST } from '../../test/helpers/netns.js';
import type { Target } from './target.js';

export const KNOT_DIRECT = 'knot direct';

export const knotDirect: Target = {
  name: KNOT_DIRECT,
  start: async ({ knot }) => ({ place: HOST, address: knot.address, port: knot.port, pid: knot.pid }),
};
