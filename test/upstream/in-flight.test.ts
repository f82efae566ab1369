import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InFlightQueries } from '../../src/upstream/in-flight.js';
import type { Query } from '../../src/query.js';

/** Only the fields the table reads and writes. */
function query(): Query {
  return { upstreamId: -1, nextInFlight: undefined } as unknown as Query;
}

test('queries are found by ID through bucket collisions, and removed from the head, middle and tail of a chain', () => {
  const table = new InFlightQueries();
  // 5, 1029, 2053 and 3077 share a bucket of 1,024.
  const ids = [5, 1029, 2053, 3077, 6];
  const queries = ids.map(() => query());
  ids.forEach((id, i) => table.add(id, queries[i]));
  assert.equal(table.size, 5);
  ids.forEach((id, i) => assert.equal(table.get(id), queries[i]));
  assert.equal(table.get(4101), undefined, 'an ID of the same bucket that is not in flight');
  for (const id of [2053, 3077, 5]) {
    table.delete(id);
    assert.equal(table.get(id), undefined);
  }
  assert.equal(table.get(1029), queries[1]);
  assert.equal(table.get(6), queries[4]);
  table.delete(2053);
  assert.equal(table.size, 2, 'deleting an ID not in flight changes nothing');
});

test('against a Map, through random adds and deletes of the whole ID space', () => {
  const table = new InFlightQueries();
  const reference = new Map<number, Query>();
  let state = 12_345;
  const next = () => (state = (state * 1_103_515_245 + 12_345) % 2 ** 31);
  for (let step = 0; step < 50_000; step++) {
    const id = next() % 65_536;
    if (reference.has(id)) {
      table.delete(id);
      reference.delete(id);
    } else if (next() % 3 !== 0) {
      const added = query();
      table.add(id, added);
      reference.set(id, added);
    }
    assert.equal(table.get(id), reference.get(id));
    assert.equal(table.size, reference.size);
  }
  for (const [id, expected] of reference) assert.equal(table.get(id), expected);
});
