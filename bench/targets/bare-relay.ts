/** The bare relay (../relay/udp-relay.ts) as a child process. */
import { fileURLToPath } from 'node:url';
import { spawnDnsServer } from '../../test/helpers/dns-servers.js';
import { freePort } from '../../test/helpers/net.js';
import { HOST } from '../../test/helpers/netns.js';
import type { Target } from './target.js';

const RELAY = fileURLToPath(new URL('../relay/udp-relay.js', import.meta.url));

export const BARE_RELAY = 'bare relay';

export const bareRelay: Target = {
  name: BARE_RELAY,
  async start({ knot, targetAddress, workload }, scope) {
    const port = await freePort(targetAddress);
    const args = [RELAY, targetAddress, String(port), knot.address, String(knot.port)];
    const relay = await spawnDnsServer({ what: BARE_RELAY, file: process.execPath, args, address: targetAddress, port, probeName: workload.probeName });
    scope.defer(() => relay.stop());
    return { place: HOST, address: targetAddress, port, pid: relay.pid };
  },
};
