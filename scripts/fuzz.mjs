// `npm run fuzz [PACKETS] [SEED]`: the long fuzz run of dnsgate's listeners (1M mutated
// client packets by default, over UDP and TCP, against knot), printing its figures.
// Lives outside test/ so that the test runner, which runs every file there, skips it.
import { fuzz } from '../dist/test/listen/fuzz.js';

const packets = Number(process.argv[2] ?? 1_000_000);
const seed = Number(process.argv[3] ?? 1);
const figures = await fuzz(packets, seed);
console.log(JSON.stringify({ ...figures, packetsPerSecond: Math.round(figures.packets / figures.seconds) }, null, 2));
