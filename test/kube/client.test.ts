// The API server here is a bare in-process HTTP server on loopback: the point is how
// the watch stream arrives in chunks, which no real API server lets a test decide.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { KubeClient, type KubeObject } from '../../src/kube/client.js';
import { LoopbackSubnet, freePort } from '../helpers/net.js';

const net = new LoopbackSubnet();

test('watch: events split anywhere, even inside a multi-byte character, arrive whole', async () => {
  const note = 'grüße, 日本, 🚀';
  const events = [1, 2].map((n) => `${JSON.stringify({ type: 'ADDED', object: { metadata: { name: `p${n}`, annotations: { note } } } })}\n`);
  const bytes = Buffer.from(events.join(''), 'utf8');
  // Cut inside the first multi-byte character of each event and inside the rocket.
  const cuts = [bytes.indexOf(Buffer.from('ü')) + 1, bytes.indexOf(Buffer.from('🚀')) + 2, bytes.lastIndexOf(Buffer.from('日')) + 1, bytes.length];
  const server = createServer(async (_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    let from = 0;
    for (const cut of cuts) {
      response.write(bytes.subarray(from, cut));
      from = cut;
      // Separate writes a moment apart reach the client as separate chunks.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    response.end();
  });
  const address = net.address(1);
  const port = await freePort(address);
  await new Promise<void>((resolve) => server.listen(port, address, resolve));
  const client = KubeClient.fromEnvironment({ DNSGATE_KUBE_API: `http://${address}:${port}` });
  try {
    const seen: KubeObject[] = [];
    for await (const event of client.watch('/api/v1/pods', '1', new AbortController().signal)) seen.push(event.object);
    assert.deepEqual(seen.map((object) => [object.metadata.name, (object.metadata as { annotations?: { note: string } }).annotations?.note]), [['p1', note], ['p2', note]]);
  } finally {
    await client.close();
    server.close();
  }
});
