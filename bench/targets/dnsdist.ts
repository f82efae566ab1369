/** dnsdist as a peer: a C++ DNS load balancer, with no packet cache so every query goes to knot. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnDnsServer } from '../../test/helpers/dns-servers.js';
import { freePort } from '../../test/helpers/net.js';
import { HOST } from '../../test/helpers/netns.js';
import type { Target } from './target.js';

export const dnsdist: Target = {
  name: 'dnsdist',
  async start({ knot, targetAddress, workload }, scope) {
    const port = await freePort(targetAddress);
    const dir = mkdtempSync(join(tmpdir(), 'dnsgate-bench-dnsdist-'));
    const config = join(dir, 'dnsdist.conf');
    // No packet cache is configured; an empty security-poll suffix stops dnsdist's
    // status lookup, which would otherwise leave the machine.
    writeFileSync(
      config,
      `setSecurityPollSuffix('')
setLocal('${targetAddress}:${port}')
setACL({'127.0.0.0/8'})
newServer({address='${knot.address}:${knot.port}'})
`,
    );
    const server = await spawnDnsServer({ what: 'dnsdist', file: 'dnsdist', args: ['--supervised', '--disable-syslog', '-C', config], address: targetAddress, port, probeName: workload.probeName, dir });
    scope.defer(() => server.stop());
    return { place: HOST, address: targetAddress, port, pid: server.pid };
  },
};
