/** Learnt-element batches over dnsgate's own netlink socket, against the kernel's nf_tables in a namespace. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { encodeBatch, readAnswers } from '../../src/dataplane/nftables/netlink-batch.js';
import { fitsNetlink } from '../../src/dataplane/nftables/netlink.js';
import type { ElementCommand } from '../../src/dataplane/nftables/transaction.js';
import { missing } from '../helpers/env.js';
import { NetworkNamespace } from '../helpers/netns.js';

const run = promisify(execFile);
const CLIENT = fileURLToPath(new URL('./netlink-client.js', import.meta.url));

const TABLE = `table inet dnsgate {
  set pod4 { type ipv4_addr . ipv4_addr; flags timeout; }
  set pod6 { type ipv6_addr . ipv6_addr; flags timeout; }
  set node4 { type ipv4_addr; flags timeout; }
  set node6 { type ipv6_addr; flags timeout; }
}
`;

interface ClientResult {
  opened: string;
  outcomes: string[];
  unusable?: string;
}

/** Runs the netlink client in `namespace` (`prefix` before node: a capability drop). */
async function client(namespace: NetworkNamespace, batches: ElementCommand[][], prefix: string[] = [], mode = ''): Promise<ClientResult> {
  const [file, argv] = namespace.command(prefix[0] ?? process.execPath, [...prefix.slice(1), ...(prefix.length > 0 ? [process.execPath] : []), CLIENT, 'dnsgate', JSON.stringify(batches), mode]);
  return JSON.parse((await run(file, argv)).stdout) as ClientResult;
}

async function withTable(body: (namespace: NetworkNamespace, nft: (...args: string[]) => Promise<string>) => Promise<void>, table = TABLE): Promise<void> {
  const namespace = await NetworkNamespace.create('dnsgate-nl');
  const nft = async (...args: string[]): Promise<string> => {
    const [file, argv] = namespace.command('nft', args);
    return (await run(file, argv)).stdout;
  };
  try {
    if (table !== '') {
      const [file, argv] = namespace.command('nft', ['-f', '-']);
      await new Promise<void>((resolve, reject) => {
        const child = execFile(file, argv, (error) => (error ? reject(error) : resolve()));
        child.stdin?.end(table);
      });
    }
    await body(namespace, nft);
  } finally {
    await namespace.delete();
  }
}

const add = (set: string, key: string, timeoutMs?: number): ElementCommand => ({ verb: 'add', set, elements: [{ key, timeoutMs }] });
const remove = (set: string, key: string): ElementCommand => ({ verb: 'delete', set, elements: [{ key }] });
/** An upsert as a batch writes it: add, delete, add again. */
const upsert = (set: string, key: string, timeoutMs: number): ElementCommand[] => [add(set, key, timeoutMs), remove(set, key), add(set, key, timeoutMs)];

test('a batch: one sequence number per message, only the last command asks for an acknowledgement', () => {
  const batch = encodeBatch('dnsgate', [add('pod4', '10.0.0.1 . 192.0.2.1', 1000), remove('pod4', '10.0.0.1 . 192.0.2.1')], 7);
  const messages: { type: number; flags: number; sequence: number }[] = [];
  for (let offset = 0; offset < batch.bytes.length; offset += batch.bytes.readUInt32LE(offset)) {
    messages.push({ type: batch.bytes.readUInt16LE(offset + 4), flags: batch.bytes.readUInt16LE(offset + 6), sequence: batch.bytes.readUInt32LE(offset + 8) });
  }
  assert.deepEqual(messages, [
    { type: 0x10, flags: 0x1, sequence: 7 },
    { type: (10 << 8) | 12, flags: 0x401, sequence: 8 },
    { type: (10 << 8) | 14, flags: 0x5, sequence: 9 },
    { type: 0x11, flags: 0x1, sequence: 10 },
  ]);
  assert.deepEqual([batch.firstSequence, batch.lastSequence], [7, 9]);
});

test('answers: every NLMSG_ERROR of a datagram, with its errno; other messages and a cut-off tail are skipped', () => {
  const message = (type: number, sequence: number, error?: number): Buffer => {
    const bytes = Buffer.alloc(error === undefined ? 20 : 36);
    bytes.writeUInt32LE(bytes.length, 0);
    bytes.writeUInt16LE(type, 4);
    bytes.writeUInt32LE(sequence, 8);
    if (error !== undefined) bytes.writeInt32LE(error, 16);
    return bytes;
  };
  const datagram = Buffer.concat([message(2, 8, -2), message(3, 9), message(2, 9, 0), message(2, 10, -1).subarray(0, 30)]);
  assert.deepEqual(readAnswers(datagram), [
    { sequence: 8, errno: 2 },
    { sequence: 9, errno: 0 },
  ]);
});

test('only small batches go over netlink: every failed command is answered with an echo of it, and the answers must fit the socket', () => {
  const command = (elements: number): ElementCommand => ({ verb: 'add', set: 'pod4', elements: Array.from({ length: elements }, (_, i) => ({ key: `10.0.0.1 . 192.0.2.${i % 250}` })) });
  assert.equal(fitsNetlink(Array.from({ length: 32 }, () => command(8))), true);
  assert.equal(fitsNetlink(Array.from({ length: 33 }, () => command(1))), false, 'too many commands');
  assert.equal(fitsNetlink([command(257)]), false, 'too many elements');
});

const skip = missing('nft', 'ip', 'setpriv');

test('the kernel applies batches of both families and scopes, with their timeouts, and an element removed is gone', { skip }, async () => {
  await withTable(async (namespace, nft) => {
    const result = await client(namespace, [
      [
        ...upsert('pod4', '10.0.0.1 . 192.0.2.1', 300_000),
        ...upsert('pod6', 'fd00::1 . 2001:db8::ff00:42', 5_500),
        ...upsert('node4', '198.51.100.7', 60_000),
        ...upsert('node6', '::ffff:192.0.2.5', 60_000),
        add('pod4', '10.0.0.1 . 192.0.2.99'),
        remove('pod4', '10.0.0.1 . 192.0.2.99'),
      ],
      // The same element again: its timeout is replaced.
      upsert('pod4', '10.0.0.1 . 192.0.2.1', 120_000),
    ]);
    assert.deepEqual(result.outcomes, ['applied', 'applied']);
    const listed = await nft('list', 'table', 'inet', 'dnsgate');
    assert.match(listed, /10\.0\.0\.1 \. 192\.0\.2\.1 timeout 2m expires/);
    assert.match(listed, /fd00::1 \. 2001:db8::ff00:42 timeout 5s500ms expires/);
    assert.match(listed, /198\.51\.100\.7 timeout 1m expires/);
    assert.match(listed, /::ffff:192\.0\.2\.5 timeout 1m expires/);
    assert.doesNotMatch(listed, /192\.0\.2\.99/);
  });
});

test('a batch with a command the kernel refuses is not applied at all, and the error names the command', { skip }, async () => {
  await withTable(async (namespace, nft) => {
    const result = await client(namespace, [[...upsert('pod4', '10.0.0.1 . 192.0.2.1', 60_000), add('gone', '10.0.0.1 . 192.0.2.2', 60_000), add('pod4', '10.0.0.1 . 192.0.2.3', 60_000)], [add('pod4', '10.0.0.1 . 192.0.2.4', 60_000)]]);
    assert.deepEqual(result.outcomes, ['netlink: no such file or directory (ENOENT): add element inet dnsgate gone { 10.0.0.1 . 192.0.2.2 timeout 60000ms }', 'applied']);
    assert.equal(result.unusable, undefined, 'a refused batch leaves the socket in use');
    const listed = await nft('list', 'set', 'inet', 'dnsgate', 'pod4');
    assert.doesNotMatch(listed, /192\.0\.2\.[13]/, 'nothing of the refused batch');
    assert.match(listed, /192\.0\.2\.4/, 'the next batch is answered on its own');
  });
});

test('opening says why batches cannot go over netlink: no table, or no CAP_NET_ADMIN', { skip }, async () => {
  await withTable(async (namespace) => {
    assert.equal((await client(namespace, [])).opened, 'netlink: no such file or directory (ENOENT): table inet dnsgate');
  }, '');
  await withTable(async (namespace) => {
    const dropped = await client(namespace, [], ['setpriv', '--inh-caps=-net_admin', '--bounding-set=-net_admin']);
    assert.equal(dropped.opened, 'netlink: operation not permitted (EPERM): table inet dnsgate');
  });
});

test('the largest batch netlink takes, every command refused: its answers fit, and the next batch is answered', { skip }, async () => {
  await withTable(async (namespace, nft) => {
    const elements = Array.from({ length: 8 }, (_, i) => ({ key: `fd00::1 . 2001:db8::${i + 1}`, timeoutMs: 60_000 }));
    const refused: ElementCommand[] = Array.from({ length: 32 }, (_, i) => ({ verb: 'add', set: `gone${i}`, elements }));
    assert.equal(fitsNetlink(refused), true);
    const result = await client(namespace, [refused, [add('pod6', 'fd00::1 . 2001:db8::99', 60_000)]]);
    assert.match(result.outcomes[0], /^netlink: no such file or directory \(ENOENT\): add element inet dnsgate gone0 /);
    assert.deepEqual(result.outcomes.slice(1), ['applied']);
    assert.equal(result.unusable, undefined);
    assert.match(await nft('list', 'set', 'inet', 'dnsgate', 'pod6'), /2001:db8::99/);
  });
});

test('batches sent before any answer is read: each answer goes to its own batch', { skip }, async () => {
  await withTable(async (namespace, nft) => {
    const result = await client(namespace, [upsert('pod4', '10.0.0.1 . 192.0.2.1', 60_000), [add('gone', '10.0.0.1 . 192.0.2.2', 60_000)], upsert('pod4', '10.0.0.1 . 192.0.2.3', 60_000)], [], 'together');
    assert.deepEqual(result.outcomes, ['applied', 'netlink: no such file or directory (ENOENT): add element inet dnsgate gone { 10.0.0.1 . 192.0.2.2 timeout 60000ms }', 'applied']);
    const listed = await nft('list', 'set', 'inet', 'dnsgate', 'pod4');
    assert.match(listed, /192\.0\.2\.1 /);
    assert.match(listed, /192\.0\.2\.3 /);
  });
});

test('a closed socket refuses batches at once and says so, so that they go through nft', { skip }, async () => {
  await withTable(async (namespace, nft) => {
    const result = await client(namespace, [upsert('pod4', '10.0.0.1 . 192.0.2.1', 60_000), upsert('pod4', '10.0.0.1 . 192.0.2.2', 60_000)], [], 'close-first');
    assert.deepEqual(result, { opened: 'open', outcomes: ['netlink socket closed', 'netlink socket closed'], unusable: 'netlink socket closed' });
    assert.doesNotMatch(await nft('list', 'set', 'inet', 'dnsgate', 'pod4'), /192\.0\.2/);
  });
});
