/** Names read from the wire as gopacket reads them: labels joined with dots, pointers followed. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { wireName } from '../../src/logs/names.js';

/** Labels in wire form, ending in the root label or, when `pointer` is given, in a pointer to it. */
function labels(names: readonly (string | Buffer)[], pointer?: number): Buffer {
  const parts = names.map((label) => {
    const bytes = typeof label === 'string' ? Buffer.from(label, 'latin1') : label;
    return Buffer.concat([Buffer.from([bytes.length]), bytes]);
  });
  parts.push(pointer === undefined ? Buffer.from([0]) : Buffer.from([0xc0 | (pointer >> 8), pointer & 0xff]));
  return Buffer.concat(parts);
}

test('a plain name and one ending in a pointer', () => {
  const message = Buffer.concat([labels(['www', 'Example', 'com']), labels(['api'], 4)]);
  assert.deepEqual(wireName(message, 0, message.length), { text: 'www.Example.com', end: 17 });
  assert.deepEqual(wireName(message, 17, message.length), { text: 'api.Example.com', end: 23 });
});

test('a name that pointers make longer than any single name, read whole', () => {
  // Each hop adds four 60-byte labels and points back to the previous segment: 20 hops, 4,899 characters.
  const label = 'a'.repeat(60);
  const segments: Buffer[] = [labels([label, label, label, label])];
  let offset = segments[0].length;
  for (let hop = 1; hop < 20; hop++) {
    const segment = labels([label, label, label, label], offset - segments[hop - 1].length);
    segments.push(segment);
    offset += segment.length;
  }
  const message = Buffer.concat(segments);
  const last = message.length - segments[19].length;
  const name = wireName(message, last, message.length);
  assert.equal(name?.text, Array<string>(80).fill(label).join('.'));
  // The buffer the labels are joined in is reused: a short name after a long one is itself.
  assert.equal(wireName(message, 0, message.length)?.text, [label, label, label, label].join('.'));
});

test('bytes that are not UTF-8 become U+FFFD, UTF-8 is decoded', () => {
  const message = labels([Buffer.from([0x61, 0xff, 0x62]), Buffer.from('é', 'utf8')]);
  assert.equal(wireName(message, 0, message.length)?.text, 'a\ufffdb.é');
});

test('a pointer loop and a name past the limit are unreadable', () => {
  const loop = Buffer.from([0xc0, 0x00]);
  assert.equal(wireName(loop, 0, loop.length), undefined);
  const message = labels(['www', 'example', 'com']);
  assert.equal(wireName(message, 0, 8), undefined);
});
