import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  ANY_RESOURCE,
  GLOBAL_RESOURCE,
  NAMESPACED_RESOURCE,
  parseSelector,
  SelectorError,
  type Labels,
} from '../../src/policy/selector.js';
import { TESTDATA } from './files.js';

interface SelectorCases {
  cases: [string, Labels, boolean][];
  invalid: string[];
}

const testdata = JSON.parse(readFileSync(join(TESTDATA, 'selectors.json'), 'utf8')) as SelectorCases;

function errorOf(text: string): SelectorError {
  try {
    parseSelector(text);
  } catch (error) {
    assert.ok(error instanceof SelectorError, `${text}: ${String(error)}`);
    return error;
  }
  assert.fail(`${JSON.stringify(text)} parsed`);
}

test('every shared selector case evaluates as Calico does', () => {
  for (const [text, labels, expected] of testdata.cases) {
    assert.equal(parseSelector(text).matches(labels), expected, `${text} on ${JSON.stringify(labels)}`);
  }
});

test('every shared invalid selector is refused with a positioned error', () => {
  for (const text of testdata.invalid) {
    const error = errorOf(text);
    assert.ok(error.column >= 0 && error.column <= text.length, `${text}: column ${error.column}`);
  }
});

test('syntax errors carry the 0-based column of the offending token', () => {
  const cases: [string, number, RegExp][] = [
    ['app = \'x\'', 4, /expected ==/],
    ['app == x', 7, /expected a quoted string after "=="/],
    ["app == 'x' &", 11, /expected &&/],
    ["app == 'x' | b", 11, /expected \|\|/],
    ['has(app', 7, /expected \) to close has\(/],
    ['has()', 4, /expected a label name/],
    ["color in {'red'", 15, /expected } to close the set/],
    ["color in 'red'", 9, /expected { after "in"/],
    ["app == 'x", 7, /unterminated string/],
    ['app', 3, /expected an operator after label "app"/],
    ["app foo 'x'", 4, /expected an operator after label "app"/],
    ["name starts 'x'", 12, /expected "with" after "starts"/],
    ["app not 'x'", 8, /expected "in" after "not"/],
    ["(app == 'x'", 11, /expected \) to close the \( at column 0/],
    ["app == 'x')", 10, /unexpected "\)"/],
    ['&& a', 0, /unexpected "&&"/],
    ["a == 'x' b == 'y'", 9, /unexpected label "b"/],
    ['all(x)', 4, /expected \) to close all/],
    ['global( ', 8, /expected \) to close global/],
    ['#', 0, /unexpected character "#"/],
    ['!', 1, /unexpected end of selector/],
  ];
  for (const [text, column, reason] of cases) {
    const error = errorOf(text);
    assert.equal(error.column, column, `${text}: ${error.message}`);
    assert.match(error.message, reason, text);
  }
});

test('a missing label makes ==, in, contains, starts with, ends with and has false, and != and not in true', () => {
  const none: Labels = {};
  for (const text of ["a == 'x'", "a in {'x'}", "a contains 'x'", "a starts with 'x'", "a ends with 'x'", 'has(a)']) {
    assert.equal(parseSelector(text).matches(none), false, text);
  }
  for (const text of ["a != 'x'", "a not in {'x'}", '!has(a)']) assert.equal(parseSelector(text).matches(none), true, text);
});

test('labels inherited from Object.prototype count as missing', () => {
  assert.equal(parseSelector('has(constructor)').matches({}), false);
  assert.equal(parseSelector("toString != 'x'").matches({}), true);
  assert.equal(parseSelector("constructor in {'x'}").matches({}), false);
});

test('the match operators compare values exactly', () => {
  const labels = { name: 'orders-db', color: 'blue', empty: '' };
  assert.equal(parseSelector("name == 'orders'").matches(labels), false);
  assert.equal(parseSelector("name != 'orders-db'").matches(labels), false);
  assert.equal(parseSelector('name contains "rs-d"').matches(labels), true);
  assert.equal(parseSelector("name starts with 'db'").matches(labels), false);
  assert.equal(parseSelector("name ends with 'orders'").matches(labels), false);
  assert.equal(parseSelector("color not in {'red', 'blue'}").matches(labels), false);
  assert.equal(parseSelector("empty == ''").matches(labels), true);
  assert.equal(parseSelector('has(empty)').matches(labels), true);
});

test('precedence: match binds tightest, then !, then &&, then ||', () => {
  const selector = parseSelector("! has(my-label) || my-label starts with 'prod' && role in {'frontend','business'}");
  assert.equal(selector.matches({}), true);
  assert.equal(selector.matches({ 'my-label': 'prod-1', role: 'frontend' }), true);
  assert.equal(selector.matches({ 'my-label': 'prod-1', role: 'db' }), false);
  assert.equal(selector.matches({ 'my-label': 'dev', role: 'frontend' }), false);
  assert.equal(parseSelector("!a == 'x' && b == 'y'").matches({ a: 'z' }), false);
  assert.equal(parseSelector("!(a == 'x' && b == 'y')").matches({ a: 'z' }), true);
  assert.equal(parseSelector("a == 'x' && b == 'y' || c == 'z'").matches({ c: 'z' }), true);
  assert.equal(parseSelector("a == 'x' && (b == 'y' || c == 'z')").matches({ c: 'z' }), false);
});

test('repeated ! collapses like Calico', () => {
  assert.equal(parseSelector("!!a == 'x'").matches({ a: 'x' }), true);
  assert.equal(parseSelector("!!!a == 'x'").matches({ a: 'x' }), false);
});

test('Calico tokenizer details: label characters, blanks, empty and trailing-comma sets, both quotes', () => {
  assert.equal(parseSelector("kubernetes.io/metadata.name == 'prod'").matches({ 'kubernetes.io/metadata.name': 'prod' }), true);
  assert.equal(parseSelector("\ta\t==\t'x'\t").matches({ a: 'x' }), true);
  assert.equal(parseSelector('has( a )').matches({ a: '' }), true);
  assert.equal(parseSelector('a in {}').matches({ a: 'x' }), false);
  assert.equal(parseSelector('a not in {}').matches({ a: 'x' }), true);
  assert.equal(parseSelector("a in {'x',}").matches({ a: 'x' }), true);
  assert.equal(parseSelector(`a == "it's"`).matches({ a: "it's" }), true);
  assert.equal(parseSelector(`a == '"q"'`).matches({ a: '"q"' }), true);
  assert.equal(errorOf('a in {,}').column, 6);
  // Calico only skips spaces and tabs.
  assert.equal(errorOf("a == 'x'\n").column, 8);
});

test('label names are 1 to 512 characters, as Calico\'s tokenizer reads them', () => {
  const longest = 'a'.repeat(512);
  assert.equal(parseSelector(`${longest} == 'x'`).matches({ [longest]: 'x' }), true);
  assert.equal(parseSelector(`has(${longest})`).matches({ [longest]: '' }), true);
  const tooLong = 'a'.repeat(513);
  for (const [text, column] of [[`${tooLong} == 'x'`, 0], [`has(${tooLong})`, 4], [`a == 'x' && ${tooLong} != 'y'`, 12], [`k in {'v'} || !has( ${tooLong} )`, 20]] as const) {
    const error = errorOf(text);
    assert.equal(error.column, column, text.slice(0, 30));
    assert.match(error.message, /label name longer than 512 characters/);
  }
});

test('an empty selector means all()', () => {
  for (const text of ['', '   ', 'all()', 'all( )']) {
    assert.equal(parseSelector(text).matches({}), true, JSON.stringify(text));
  }
  assert.equal(parseSelector('!all()').matches({ a: 'b' }), false);
});

test('all() and global() follow the scope: any resource, namespaced, or global', () => {
  const all = parseSelector('all()');
  const global = parseSelector('global()');
  assert.deepEqual([ANY_RESOURCE, NAMESPACED_RESOURCE, GLOBAL_RESOURCE].map((scope) => all.evaluate({}, scope)), [true, true, false]);
  assert.deepEqual([ANY_RESOURCE, NAMESPACED_RESOURCE, GLOBAL_RESOURCE].map((scope) => global.evaluate({}, scope)), [true, false, true]);
  assert.equal(parseSelector('').evaluate({}, GLOBAL_RESOURCE), false);
});

test('global() is reported: where it appears, and whether it is the whole selector', () => {
  assert.deepEqual([parseSelector(' global() ').mentionsGlobal, parseSelector(' global() ').isGlobalOnly], [true, true]);
  assert.deepEqual([parseSelector("global() || a == 'b'").mentionsGlobal, parseSelector("global() || a == 'b'").isGlobalOnly], [true, false]);
  assert.deepEqual([parseSelector('!global()').mentionsGlobal, parseSelector('!global()').isGlobalOnly], [true, false]);
  assert.deepEqual([parseSelector('all()').mentionsGlobal, parseSelector('all()').isGlobalOnly], [false, false]);
});

test('absurd nesting is refused with a positioned error instead of exhausting the stack', () => {
  const text = '('.repeat(100_000);
  const error = errorOf(text);
  assert.ok(error.column > 0 && error.column < text.length);
  assert.equal(parseSelector(`${'('.repeat(200)}a == 'x'${')'.repeat(200)}`).matches({ a: 'x' }), true);
});
