/** dnsmasq as a peer: a forwarder in C, with its cache off so every query goes to knot. */
import { spawnDnsServer } from '../../test/helpers/dns-servers.js';
import { freePort } from '../../test/helpers/net.js';
import { HOST } from '../../test/helpers/netns.js';
import type { Target } from './target.js';

export const DNSMASQ = 'dnsmasq';

export const dnsmasq: Target = {
  name: DNSMASQ,
  async start({ knot, targetAddress, workload }, scope) {
    const port = await freePort(targetAddress);
    const args = [
      '--keep-in-foreground',
      '--conf-file=/dev/null',
      '--no-resolv',
      '--no-hosts',
      '--cache-size=0',
      `--server=${knot.address}#${knot.port}`,
      `--listen-address=${targetAddress}`,
      '--bind-interfaces',
      `--port=${port}`,
      '--pid-file=',
      '--log-facility=-',
    ];
    const server = await spawnDnsServer({ what: DNSMASQ, file: 'dnsmasq', args, address: targetAddress, port, probeName: workload.probeName });
    scope.defer(() => server.stop());
    return { place: HOST, address: targetAddress, port, pid: server.pid };
  },
};
