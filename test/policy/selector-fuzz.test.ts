/**
 * Random selectors, both grammatical and arbitrary text: the parser either returns a
 * selector whose evaluation yields a boolean, or throws SelectorError with a column
 * inside the text. Seeded, so a failure reproduces.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../helpers/random.js';
import { ANY_RESOURCE, GLOBAL_RESOURCE, NAMESPACED_RESOURCE, parseSelector, SelectorError } from '../../src/policy/selector.js';


const FRAGMENTS = [
  'a', 'b', 'k8s-app', 'x.io/name', '==', '!=', ' in ', ' not in ', 'contains', 'starts with', 'ends with', 'has(', 'has(a)', '!has(b)',
  'all()', 'global()', '(', ')', '{', '}', ',', "'v'", '"w"', "'", '"', '!', '&&', '||', '&', '|', '=', ' ', '\t', '#', 'starts', 'not',
];

function grammatical(next: () => number, depth = 0): string {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)];
  const label = pick(['a', 'b', 'c', 'x.io/y']);
  const value = pick(["'v'", '"w"', "''"]);
  if (depth > 3 || next() < 0.4) {
    return pick([
      `${label} == ${value}`, `${label} != ${value}`, `${label} in {${value}, 'z'}`, `${label} not in {}`, `has(${label})`, 'all()', 'global()',
      `${label} contains ${value}`, `${label} starts with ${value}`, `${label} ends with ${value}`,
    ]);
  }
  const left = grammatical(next, depth + 1);
  const right = grammatical(next, depth + 1);
  return pick([`${left} && ${right}`, `${left} || ${right}`, `!(${left})`, `(${left})`, `!${left}`]);
}

function check(text: string): 'parsed' | 'refused' {
  try {
    const selector = parseSelector(text);
    const labels = { a: 'v', b: '', 'x.io/y': 'w' };
    for (const scope of [ANY_RESOURCE, NAMESPACED_RESOURCE, GLOBAL_RESOURCE]) assert.equal(typeof selector.evaluate(labels, scope), 'boolean');
    return 'parsed';
  } catch (error) {
    assert.ok(error instanceof SelectorError, `${JSON.stringify(text)} threw ${String(error)}`);
    assert.ok(Number.isInteger(error.column) && error.column >= 0 && error.column <= text.length, `${JSON.stringify(text)}: column ${error.column}`);
    return 'refused';
  }
}

test('grammatical random selectors always parse', () => {
  const next = seededRandom(1);
  for (let i = 0; i < 3000; i++) {
    const text = grammatical(next);
    assert.equal(check(text), 'parsed', text);
  }
});

test('random fragments either parse or give a positioned SelectorError', () => {
  const next = seededRandom(2);
  const outcomes = { parsed: 0, refused: 0 };
  for (let i = 0; i < 20_000; i++) {
    const count = 1 + Math.floor(next() * 8);
    let text = '';
    for (let j = 0; j < count; j++) text += FRAGMENTS[Math.floor(next() * FRAGMENTS.length)];
    outcomes[check(text)]++;
  }
  // Both paths must be exercised for the test to mean anything.
  assert.ok(outcomes.parsed > 100 && outcomes.refused > 100, JSON.stringify(outcomes));
});

test('random printable characters either parse or give a positioned SelectorError', () => {
  const next = seededRandom(3);
  for (let i = 0; i < 20_000; i++) {
    const length = Math.floor(next() * 16);
    let text = '';
    for (let j = 0; j < length; j++) text += String.fromCharCode(32 + Math.floor(next() * 95));
    check(text);
  }
});
