/** The driver: acknowledgements, refusals and a dying nft, against the real nft in a namespace. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { NftError, NftProcess } from '../../src/dataplane/nftables/nft-process.js';
import { waitFor } from '../helpers/dnsgate.js';
import { missing } from '../helpers/env.js';
import { NetworkNamespace } from '../helpers/netns.js';

const run = promisify(execFile);
const skip = missing('nft', 'ip');
let namespace: NetworkNamespace;

before(async () => {
  if (!skip) namespace = await NetworkNamespace.create('dnsgate-driver');
});

after(async () => {
  await namespace?.delete();
});

async function listRuleset(): Promise<string> {
  const [file, args] = namespace.command('nft', ['list', 'ruleset']);
  return (await run(file, args)).stdout;
}

/** The nft processes this test process started (`ip netns exec` execs nft, keeping the PID). */
function ownNftPids(): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        return stat.includes('(nft)') && Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === process.pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

test('each transaction is acknowledged once applied; a refused one rejects with what nft said, applies nothing, and the next goes on', { skip }, async () => {
  const exits: string[] = [];
  const nft = new NftProcess(namespace.command('nft', ['-i']), (reason) => exits.push(reason));
  try {
    await nft.run('add table inet driver\nadd set inet driver s { type ipv4_addr; flags timeout; }\n');
    assert.match(await listRuleset(), /set s/);
    // A short transaction goes as one input line, a long one through a file: both are all or nothing.
    const shortRefused = nft.run('add element inet driver s { 192.0.2.1 timeout 10s }\nadd element inet driver nosuchset { 192.0.2.2 }\n');
    await assert.rejects(shortRefused, (error: Error) => {
      assert.ok(error instanceof NftError);
      assert.match(error.message, /^No such file or directory: add element inet driver nosuchset \{ 192\.0\.2\.2 \}$/);
      assert.doesNotMatch(error.report, /transaction\.nft/, 'sent inline, not through the file');
      return true;
    });
    const many = Array.from({ length: 50 }, (_, i) => `192.0.2.${i + 1} timeout 10s`).join(', ');
    const longRefused = nft.run(`add element inet driver s { ${many} }\nadd element inet driver nosuchset { 192.0.2.2 }\n`);
    await assert.rejects(longRefused, (error: Error) => {
      assert.ok(error instanceof NftError);
      assert.match(error.message, /^No such file or directory: add element inet driver nosuchset \{ 192\.0\.2\.2 \}$/);
      assert.match(error.report, /transaction\.nft:2:/);
      return true;
    });
    assert.ok(!(await listRuleset()).includes('192.0.2.1'), 'the transactions were all or nothing');
    await Promise.all([1, 2, 3].map((i) => nft.run(`add element inet driver s { 192.0.2.${i} timeout 10s }\n`)));
    assert.match(await listRuleset(), /192\.0\.2\.1.*192\.0\.2\.2.*192\.0\.2\.3/s);
    assert.deepEqual(exits, []);
  } finally {
    await nft.stop();
  }
});

test('when nft dies, the death is reported and the next transaction starts a new nft', { skip }, async () => {
  const exits: string[] = [];
  const nft = new NftProcess(namespace.command('nft', ['-i']), (reason) => exits.push(reason));
  try {
    await nft.run('add table inet dying\n');
    const [pid] = ownNftPids();
    assert.ok(pid, 'nft runs');
    process.kill(pid, 'SIGKILL');
    await waitFor(() => exits.length === 1, 5000, 'the exit to be reported');
    assert.match(exits[0], /nft killed by SIGKILL/);
    await nft.run('add table inet reborn\n');
    assert.match(await listRuleset(), /table inet reborn/);
    assert.notEqual(ownNftPids()[0], pid);
  } finally {
    await nft.stop();
  }
});
