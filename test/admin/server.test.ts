/**
 * The admin server under hostile clients: held connections, slow headers, malformed
 * request targets; and which listener serves the API.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dig } from '../helpers/dig.js';
import { startKnot, standardRootZone, type DnsServer } from '../helpers/dns-servers.js';
import { spawnReadyDnsgate, startDnsgate } from '../helpers/dnsgate.js';
import { missing } from '../helpers/env.js';
import { HOST, type Place } from '../helpers/netns.js';
import { LoopbackSubnet, freePort } from '../helpers/net.js';

const skip = missing('knotd', 'dig', 'prlimit');
const net = new LoopbackSubnet();
let knot: DnsServer;
const dir = mkdtempSync(join(tmpdir(), 'dnsgate-admin-'));

before(async () => {
  if (skip) return;
  knot = await startKnot(net.address(2), { '.': standardRootZone(net.address(2)) });
});

after(async () => {
  await knot?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The host, with dnsgate's file descriptors limited as a container's often are. */
const LIMITED: Place = { ...HOST, name: 'host, 1024 fds', command: (file, args) => ['prlimit', ['--nofile=1024:1024', file, ...args]] };

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Sends `request` raw and resolves with what the server sent until it closed. */
function raw(port: number, request: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write(request));
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within ${timeoutMs} ms; got ${JSON.stringify(text)}`));
    }, timeoutMs);
    socket.on('data', (chunk) => (text += chunk.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
  });
}

test('1,100 held admin connections leave /healthz and DNS over TCP reachable', { skip }, async () => {
  const dnsgate = await spawnReadyDnsgate(net.address(1), ['--upstream', `${knot.address}:${knot.port}`, '--log-stdout', 'false'], LIMITED);
  const held: Socket[] = [];
  try {
    for (let i = 0; i < 1100; i++) {
      const socket = await open(dnsgate.adminPort).catch(() => undefined);
      if (socket) {
        socket.on('error', () => undefined);
        held.push(socket);
      }
    }
    const health = await fetch(`http://127.0.0.1:${dnsgate.adminPort}/healthz`, { signal: AbortSignal.timeout(5000) }).catch(() => undefined);
    assert.equal(health?.status, 200, '/healthz answers');
    const answer = await dig('www.example.com', { server: net.address(1), port: dnsgate.port, tcp: true, timeout: 3, tries: 1 });
    assert.equal(answer.status, 'NOERROR', `DNS over TCP: ${dnsgate.stderr()}`);
  } finally {
    for (const socket of held) socket.destroy();
    dnsgate.child.kill('SIGTERM');
    await dnsgate.exited;
  }
});

test('slow headers are closed within 10 s; a malformed target gets 400', { skip }, async () => {
  const dnsgate = await startDnsgate(net.address(3), ['--upstream', `${knot.address}:${knot.port}`]);
  try {
    const slow = await raw(dnsgate.adminPort, 'GET /healthz HTTP/1.1\r\nHost: x\r\n', 12_000);
    assert.doesNotMatch(slow, /200 OK/, 'the request never completed');
    const malformed = await raw(dnsgate.adminPort, 'GET // HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(malformed, /^HTTP\/1\.1 400 /);
  } finally {
    await dnsgate.stop();
  }
});

test('the API is served on loopback, on --admin-private, or with the token; not to anyone on the node address', { skip }, async () => {
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, 's3cret\n');
  const publicPort = await freePort('0.0.0.0');
  const privatePort = await freePort('127.0.0.1');
  const dnsgate = await startDnsgate(net.address(4), [
    '--upstream', `${knot.address}:${knot.port}`,
    '--admin', `0.0.0.0:${publicPort}`, '--admin-private', `127.0.0.1:${privatePort}`, '--admin-token-file', tokenFile,
  ]);
  const get = (port: number, path: string, token?: string) =>
    fetch(`http://127.0.0.1:${port}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} }).then((r) => r.status);
  try {
    assert.equal(await get(publicPort, '/healthz'), 200);
    assert.equal(await get(publicPort, '/metrics'), 200);
    assert.equal(await get(publicPort, '/v1/allowed'), 403);
    assert.equal(await get(publicPort, '/v1/explain?client=10.0.0.1&name=a.com'), 403);
    assert.equal(await get(publicPort, '/v1/allowed', 'wrong'), 403);
    assert.equal(await get(publicPort, '/v1/allowed', 's3cret'), 200);
    assert.equal(await get(privatePort, '/v1/allowed'), 200);
    assert.equal(await get(privatePort, '/v1/explain?client=10.0.0.1&name=a.com'), 200);
  } finally {
    await dnsgate.stop();
  }
  await assert.rejects(startDnsgate(net.address(5), ['--upstream', `${knot.address}:${knot.port}`, '--admin-private', '0.0.0.0:1']), /--admin-private.*loopback/);
});
