/** 100k mutated client packets over UDP and TCP: no crash, and valid queries answered right throughout. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { missing } from '../helpers/env.js';
import { fuzz } from './fuzz.js';

const skip = missing('knotd');

test('100k mutated client packets: dnsgate stays up and keeps answering valid queries right', { skip }, async () => {
  const figures = await fuzz(100_000);
  assert.equal(figures.packets, 100_000);
  assert.ok(figures.udpPackets > 0 && figures.tcpPackets > 0);
  assert.ok(figures.checks >= 40, `${figures.checks} valid queries checked`);
  assert.ok(figures.malformed > 0, 'some mutations were malformed and counted');
});
