/** Collapsing observed names into wildcards: the threshold, public suffixes, names seen alone. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { collapseNames } from '../../src/recommend/collapse.js';
import { isPublicSuffix } from '../../src/recommend/public-suffix.js';

const never = (): boolean => false;
const siblings = (count: number, parent: string): string[] => Array.from({ length: count }, (_, i) => `s${i}.${parent}`);

describe('collapseNames', () => {
  test('K distinct siblings become *.parent; K-1 stay exact', () => {
    assert.deepEqual(collapseNames(siblings(5, 'cdn.example.com'), { wildcardMin: 5, mustNotCover: never }), ['*.cdn.example.com']);
    assert.deepEqual(collapseNames(siblings(4, 'cdn.example.com'), { wildcardMin: 5, mustNotCover: never }), siblings(4, 'cdn.example.com').sort());
  });

  test('a name seen alone under its parent stays exact, next to a collapsed sibling group', () => {
    const names = [...siblings(5, 'cdn.example.com'), 'api.example.org'];
    assert.deepEqual(collapseNames(names, { wildcardMin: 5, mustNotCover: never }), ['*.cdn.example.com', 'api.example.org']);
  });

  test('never onto a public suffix, ICANN or private (com, co.uk, github.io)', () => {
    for (const parent of ['com', 'co.uk', 'github.io', 's3.amazonaws.com']) {
      assert.ok(isPublicSuffix(parent), parent);
      const names = siblings(6, parent);
      assert.deepEqual(collapseNames(names, { wildcardMin: 5, mustNotCover: never }), [...names].sort(), parent);
    }
    assert.equal(isPublicSuffix('example.com'), false);
  });

  test('the parent itself stays exact beside its wildcard', () => {
    const names = ['example.com', ...siblings(5, 'example.com')];
    assert.deepEqual(collapseNames(names, { wildcardMin: 5, mustNotCover: never }), ['example.com', '*.example.com']);
  });

  test('deeper groups collapse first and count as one child above', () => {
    const names = [...siblings(5, 'cdn.example.com'), 'a.example.com', 'b.example.com', 'c.example.com'];
    assert.deepEqual(collapseNames(names, { wildcardMin: 5, mustNotCover: never }), ['a.example.com', 'b.example.com', 'c.example.com', '*.cdn.example.com']);
    assert.deepEqual(collapseNames([...names, 'd.example.com'], { wildcardMin: 5, mustNotCover: never }), ['*.example.com']);
  });

  test('no wildcard over a name only another workload resolved', () => {
    const names = siblings(5, 'cdn.example.com');
    assert.deepEqual(collapseNames(names, { wildcardMin: 5, mustNotCover: (parent) => parent === 'cdn.example.com' }), [...names].sort());
  });
});
