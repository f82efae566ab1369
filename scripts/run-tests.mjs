#!/usr/bin/env node
// Runs every test. As root it first installs the Debian packages the integration
// tests drive (knot, unbound, dig, dnsperf, nft, ip) when any is missing; without
// root those tests skip and say why.
import { spawnSync } from 'node:child_process';

const TOOLS = { knotd: 'knot', unbound: 'unbound', dig: 'dnsutils', dnsperf: 'dnsperf', nft: 'nftables', ip: 'iproute2' };

function have(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function apt(args) {
  return spawnSync('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0;
}

const missing = Object.entries(TOOLS).filter(([command]) => !have(command));
if (missing.length > 0) {
  const packages = [...new Set(missing.map(([, pkg]) => pkg))];
  if (process.getuid?.() === 0 && have('apt-get')) {
    console.log(`installing ${packages.join(' ')} for the integration tests`);
    if (!apt(['install', '-y', '--no-install-recommends', ...packages])) {
      apt(['update']);
      apt(['install', '-y', '--no-install-recommends', ...packages]);
    }
  } else {
    console.log(`not root or no apt-get: integration tests needing ${packages.join(', ')} will skip`);
  }
}

const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', 'dist/test/'], { stdio: 'inherit' });
process.exit(result.status ?? 1);
