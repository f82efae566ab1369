/** The real `dnsgate serve`: the window in progress is written at SIGTERM, to dns.log or stdout. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dig } from '../helpers/dig.js';
import { startUpstreams } from '../helpers/dns-servers.js';
import { spawnReadyDnsgate } from '../helpers/dnsgate.js';
import { missing } from '../helpers/env.js';
import { LoopbackSubnet } from '../helpers/net.js';
import { about, parseRecords, readRecords, writePodsFile } from './fixture.js';

const subnet = new LoopbackSubnet();
const KNOT = subnet.address(1);
const UNBOUND = subnet.address(2);
const DNSGATE = subnet.address(3);
const WEB_A = subnet.address(10);
const WEB_B = subnet.address(11);

const skip = missing('knotd', 'unbound', 'dig');

describe('dnsgate serve writes DNS logs', { skip }, () => {
  let upstreams: Awaited<ReturnType<typeof startUpstreams>>;
  let dir: string;
  let common: string[];

  before(async () => {
    upstreams = await startUpstreams(KNOT, UNBOUND);
    dir = mkdtempSync(join(tmpdir(), 'dnsgate-cli-logs-'));
    const web = { namespace: 'yaobank', generateName: 'customer-7d9c8b7f4-', labels: { app: 'customer', version: 'v1' } };
    const podsFile = writePodsFile(dir, [
      { ...web, name: 'customer-7d9c8b7f4-x2x9z', ip: WEB_A },
      { ...web, name: 'customer-7d9c8b7f4-k4jqp', ip: WEB_B },
      { name: 'coredns-565d847f94-gk6tn', namespace: 'kube-system', generateName: 'coredns-565d847f94-', ip: UNBOUND, labels: { 'k8s-app': 'kube-dns' } },
    ]);
    // Only the flush at shutdown can write within the test.
    common = ['--upstream', `${UNBOUND}:${upstreams.unbound.port}`, '--pods', podsFile, '--node-name', 'node-1', '--log-flush-interval', '300s'];
  });

  after(async () => {
    await upstreams?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function queriesThenSigterm(args: string[]): Promise<{ stdout: string }> {
    const dnsgate = await spawnReadyDnsgate(DNSGATE, [...common, ...args]);
    try {
      for (const source of [WEB_A, WEB_B]) {
        const result = await dig('alias.example.com', { server: DNSGATE, port: dnsgate.port, source });
        assert.equal(result.status, 'NOERROR');
      }
    } finally {
      dnsgate.child.kill('SIGTERM');
    }
    assert.equal(await dnsgate.exited, 0, dnsgate.stderr());
    return { stdout: dnsgate.stdout() };
  }

  function assertAlias(records: ReturnType<typeof parseRecords>): void {
    const [record] = about(records, 'alias.example.com');
    assert.equal(records.length, 1, JSON.stringify(records));
    assert.equal(record.count, 2);
    assert.equal(record.client_name_aggr, 'customer-7d9c8b7f4-*');
    assert.equal(record.host, 'node-1');
    assert.deepEqual(record.rrsets, [
      { name: 'alias.example.com', class: 'IN', type: 'CNAME', rdata: ['www.example.com'] },
      { name: 'www.example.com', class: 'IN', type: 'A', rdata: ['192.0.2.10'] },
      // dig asks with EDNS; unbound's OPT record, as Felix logs it.
      { name: '', class: 1232, type: 'OPT', rdata: [''] },
    ]);
  }

  test('--log-dir: the window in progress is in dns.log after SIGTERM', async (t) => {
    const logDir = join(dir, 'logs');
    const { stdout } = await queriesThenSigterm(['--log-dir', logDir]);
    const text = readFileSync(join(logDir, 'dns.log'), 'utf8');
    assertAlias(readRecords(join(logDir, 'dns.log')));
    assert.equal(stdout, '', 'no records on stdout when writing to a directory');
    t.diagnostic(`sample record: ${text.trim()}`);
  });

  test('no --log-dir: the same records on stdout', async () => {
    const { stdout } = await queriesThenSigterm([]);
    assertAlias(parseRecords(stdout));
  });

  test('--log-dir with --log-stdout true: both', async () => {
    const logDir = join(dir, 'both');
    const { stdout } = await queriesThenSigterm(['--log-dir', logDir, '--log-stdout', 'true']);
    assert.equal(stdout, readFileSync(join(logDir, 'dns.log'), 'utf8'));
    assertAlias(parseRecords(stdout));
  });

  test('--log-stdout false and no --log-dir: no records anywhere', async () => {
    const { stdout } = await queriesThenSigterm(['--log-stdout', 'false']);
    assert.equal(stdout, '');
  });
});
