#!/usr/bin/env node
// Runs every test (after `npm run build`). As root it first installs the Debian
// packages the integration tests drive (knot, unbound, dig, dnsperf, nft, ip) when any
// is missing; without root those tests skip and say why.
import { spawnSync } from 'node:child_process';
import { installMissing } from '../dist/test/helpers/debian.js';

installMissing(
  { knotd: 'knot', unbound: 'unbound', dig: 'dnsutils', dnsperf: 'dnsperf', nft: 'nftables', ip: 'iproute2', 'musl-gcc': 'musl-tools' },
  'the integration tests, which skip without them',
);

const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', 'dist/test/'], { stdio: 'inherit' });
process.exit(result.status ?? 1);
