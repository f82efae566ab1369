import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isPrivateIp, parseCidr } from '../../src/net/cidr.js';

test('parseCidr normalises and checks membership for both families', () => {
  const v4 = parseCidr('10.1.2.3/16');
  assert.equal(v4?.text, '10.1.0.0/16');
  assert.deepEqual(['10.1.0.0', '10.1.255.255', '10.2.0.0', '10.0.255.255', '::1', '10.1.2'].map((ip) => v4?.contains(ip)), [true, true, false, false, false, false]);
  assert.equal(parseCidr('192.0.2.7')?.text, '192.0.2.7/32');
  const v6 = parseCidr('2001:DB8::/32');
  assert.equal(v6?.text, '2001:db8::/32');
  assert.deepEqual(['2001:db8::', '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', '2001:db9::', '10.0.0.1'].map((ip) => v6?.contains(ip)), [true, true, false, false]);
  const mapped = parseCidr('::ffff:0:0/96');
  assert.deepEqual(['::ffff:1.2.3.4', '::fffe:1.2.3.4'].map((ip) => mapped?.contains(ip)), [true, false]);
  for (const bad of ['10.0.0.0/33', '10.0.0/8', '10.0.0.0/8/1', 'fd00::/129', 'x/8', '10.0.0.0/-1']) assert.equal(parseCidr(bad), undefined, bad);
});

test('private means IPv4 RFC 1918, nothing else', () => {
  assert.deepEqual(['10.9.9.9', '172.16.0.1', '172.31.255.255', '192.168.0.1'].map(isPrivateIp), [true, true, true, true]);
  // Felix's pvt is IPv4 RFC 1918 only: an IPv6 ULA (RFC 4193) is pub.
  assert.deepEqual(['172.32.0.1', '127.0.0.1', '8.8.8.8', '2001:db8::1', 'fe80::1', 'fd00::1'].map(isPrivateIp), [false, false, false, false, false, false]);
});
