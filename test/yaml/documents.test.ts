/**
 * forEachObject reads most documents straight from yaml's CST; these tests hold it to
 * what yaml's Composer and toJS make of the same text: equal values, the same position
 * for every path, the same first error, and the Composer for whatever the CST reader
 * does not take.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Composer, LineCounter, Parser, isMap, isScalar, isSeq, type CST, type Node as YamlNode, type YAMLMap } from 'yaml';
import { plainDocumentValue, type FieldPath } from '../../src/yaml/cst-values.js';
import { forEachObject, nodeAt, SourceError } from '../../src/yaml/documents.js';
import { seededRandom } from '../helpers/random.js';
import { REPO, TESTDATA } from '../policy/files.js';

const FILE = 'objects.yaml';

interface Reading {
  objects: { value: Record<string, unknown>; at: (path: FieldPath) => string }[];
  /** The SourceError message that ended the reading, if one did. */
  error?: string;
}

/** What forEachObject read before any error. */
function read(text: string): Reading {
  const reading: Reading = { objects: [] };
  try {
    forEachObject(FILE, text, (object) => reading.objects.push({ value: object.value, at: (path) => object.at(path) }));
  } catch (error) {
    if (!(error instanceof SourceError)) throw error;
    reading.error = error.message;
  }
  return reading;
}

/** The same through yaml's Composer and toJS alone, every document, as dnsgate read files before the CST reader. */
function readComposed(text: string): Reading {
  const reading: Reading = { objects: [] };
  const lines = new LineCounter();
  const where = (offset: number | undefined): string => {
    const { line, col } = lines.linePos(offset ?? 0);
    return `${FILE}:${line}:${col}`;
  };
  const tokens = new Parser(lines.addNewLine).parse(text);
  const add = (node: YAMLMap, toJS: () => unknown): void => {
    let value: unknown;
    try {
      value = toJS();
    } catch (error) {
      throw new SourceError(where(node.range?.[0]), (error as Error).message);
    }
    reading.objects.push({ value: value as Record<string, unknown>, at: (path) => where(nodeAt(node, path).range?.[0]) });
  };
  try {
    for (const doc of new Composer({ prettyErrors: false, uniqueKeys: false }).compose(tokens)) {
      if (doc.errors.length > 0) throw new SourceError(where(doc.errors[0].pos[0]), doc.errors[0].message.split('\n')[0]);
      const root = doc.contents;
      if (root === null || (isScalar(root) && root.value === null)) continue;
      if (!isMap(root)) throw new SourceError(where(root.range?.[0]), 'expected an object with apiVersion and kind');
      const kind: unknown = root.get('kind');
      const items = root.get('items', true);
      if (typeof kind === 'string' && kind.endsWith('List') && isSeq(items)) {
        for (const item of items.items) {
          if (!isMap(item)) throw new SourceError(where((item as YamlNode | null)?.range?.[0]), 'List item is not an object');
          add(item, () => item.toJS(doc));
        }
      } else {
        add(root, () => root.toJS(doc));
      }
    }
  } catch (error) {
    if (!(error instanceof SourceError)) throw error;
    reading.error = error.message;
  }
  return reading;
}

/** Every path into `value`, and paths just past what exists: a missing key, an index past the end, a field of a scalar, numeric keys as numbers. */
function* pathsOf(value: unknown, path: FieldPath = []): Generator<FieldPath> {
  yield path;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) yield* pathsOf(value[i], [...path, i]);
    yield [...path, value.length];
    yield [...path, 'length'];
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      yield* pathsOf(item, [...path, key]);
      if (key !== '' && !Number.isNaN(Number(key))) yield [...path, Number(key)];
    }
    yield [...path, 'missing'];
  } else {
    yield [...path, 0];
  }
}

/** Asserts that forEachObject reads `text` as the Composer does: values, every position, the error. */
function assertReadsAsComposed(text: string, label = text): void {
  const expected = readComposed(text);
  const actual = read(text);
  assert.equal(actual.error, expected.error, `error of ${JSON.stringify(label)}`);
  assert.equal(actual.objects.length, expected.objects.length, `objects of ${JSON.stringify(label)}`);
  expected.objects.forEach((object, index) => {
    assert.deepEqual(actual.objects[index].value, object.value, `value of object ${index} of ${JSON.stringify(label)}`);
    for (const path of pathsOf(object.value)) {
      assert.equal(actual.objects[index].at(path), object.at(path), `position of ${JSON.stringify(path)} in object ${index} of ${JSON.stringify(label)}`);
    }
  });
}

function cstDocuments(text: string): CST.Document[] {
  return [...new Parser().parse(text)].filter((token): token is CST.Document => token.type === 'document');
}

/** Whether the CST reader takes every document of `text` (and the Composer none). */
function readFromCst(text: string): boolean {
  return cstDocuments(text).every((document) => plainDocumentValue(document) !== undefined);
}

const withCrlf = (text: string): string => text.replace(/\n/g, '\r\n');

function yamlFilesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => /\.ya?ml$/.test(name) && !name.split('/').some((part) => part === 'node_modules' || part === 'dist' || part.startsWith('.')))
    .map((name) => join(dir, name));
}

test('every YAML file of the shared test data, the fixtures and the repository reads as composed', () => {
  const files = [...yamlFilesUnder(join(REPO, '..', 'shared', 'testdata')), ...yamlFilesUnder(TESTDATA), ...yamlFilesUnder(REPO)];
  assert.ok(files.length > 10, `only ${files.length} YAML files found`);
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    assertReadsAsComposed(text, file);
    assertReadsAsComposed(withCrlf(text), `${file} with CRLF`);
  }
});

/** Plain scalars of every core-schema form, and strings that look close to one. */
const PLAIN_SCALARS = [
  '0', '-0', '+0', '12', '+12', '-12', '007', '0o17', '0o8', '0x1F', '0x1f', '0xG', '0X1F', '9007199254740993', '1_000',
  '1.5', '-.5', '+.5', '.5', '5.', '1.0', '1.50', '1e3', '1E3', '-1.5e-3', '1.e3', '.5e3', '1e400', 'e3', '1e',
  '.inf', '.Inf', '.INF', '-.Inf', '+.inf', '.iNf', '.nan', '.NaN', '.NAN', '.Nan', '-.nan',
  '~', 'null', 'Null', 'NULL', 'nULL', 'true', 'True', 'TRUE', 'tRUE', 'false', 'False', 'FALSE', 'yes', 'no', 'on', 'off', 'y', 'n',
  '12:30', '2001-12-14', '2001-12-14t21:59:43.10-05:00', '<<', '=', 'a:b', 'a#b', 'http://example.com/a?b=c', '-a', '.a', '+a', '~a', 'nullx', 'tru', 'Falsey',
  '__proto__', 'constructor', 'toString', '10.0.0.0/24', 'a*.example.com', "app == 'web'", 'has(role) && role in {"a", "b"}', '日本語', 'a b  c',
];

/** Scalars in the other styles, and values that are not scalars; all read from the CST. */
const OTHER_VALUES = [
  "'quoted'", '"*.example.com"', "''", "'it''s'", "'12'", "'~'", '""', '"esc\\tapes \\u00e9 \\x41 \\\\ \\" \\/ \\N \\_ \\L"', '"12"', '"true"', '"null"', '"a\\\n    b"',
  "'first\n    second'", '"first\n    second\n\n    third"', 'first\n    second\n\n    third', 'plain with # hash',
  '|\n    literal\n    text\n', '|-\n    strip\n\n', '|+\n    keep\n\n', '>\n    folded\n    text\n\n    para\n', '>-\n    folded\n      more indented\n    back\n', '>+\n    keep\n\n', '|2\n      indented\n', '|  # comment\n    c\n', '|\n\n    leading blank\n',
  '', '   # nothing but a comment', '[]', '[ ]', '[443]', '[443, 8443]', '[a, b, ]', '[1, "two", \'three\', 4.5, null, ~, .inf]', '[10.0.0.0/24, "192.168.0.0/16"]',
  '[\n      a,\n      b\n    ]', '[ a , b ]  # after', '{}', '{a: 1}', '{a: 1, b: , c: "x", 4: four}', '{ name: web, namespace: shop }', '{a: 1,\n      b: 2}',
  '\n    on the next line', '# a comment, then\n    on the next line', '\n    # a comment alone', '\n    nested: map\n    with: [flow]', '\n    - seq\n    - - nested\n      - 2\n    -\n    - # comment\n      after', '\n  - at the key\'s indent', '\n    k: v\n    # trailing comment',
];

function documentWith(value: string): string {
  return `apiVersion: v1\nkind: Thing # comment\nmetadata:\n  name: x\nspec:\n  field: ${value}\n  list:\n    - ${value}\n    - other\n  flow: [${value}, x]\n  map: {k: ${value}}\n  ${value}: as key\n  after: 1\n`;
}

test('every scalar form and value shape reads as composed, in each place it can stand', () => {
  for (const value of [...PLAIN_SCALARS, ...OTHER_VALUES]) {
    const text = documentWith(value);
    assertReadsAsComposed(text);
    assertReadsAsComposed(withCrlf(text), `${text} with CRLF`);
  }
});

test('the CST reader, not the Composer, reads the forms objects are written in', () => {
  const asField = (value: string): string => `apiVersion: v1\nkind: Thing\nspec:\n  field: ${value}\n  after: 1\n`;
  const inList = (value: string): string => `spec:\n  list:\n  - ${value}\n  - ${value} # comment\n  -\n  - a\n`;
  for (const value of [...PLAIN_SCALARS, ...OTHER_VALUES]) {
    assert.ok(readFromCst(asField(value)), asField(value));
    assert.ok(readFromCst(withCrlf(asField(value))), `${asField(value)} with CRLF`);
  }
  for (const value of [...PLAIN_SCALARS, ...OTHER_VALUES.filter((text) => !text.includes('\n'))]) assert.ok(readFromCst(inList(value)), inList(value));
  for (const value of PLAIN_SCALARS) assert.ok(readFromCst(`${value}: key\n`), `${value} as a key`);
  for (const value of PLAIN_SCALARS.filter((text) => !/[[\]{},]/.test(text))) assert.ok(readFromCst(`flow: [${value}]\nmap: {k: ${value}}\n`), `${value} in flow collections`);
  const stream = `# before\n---\n${asField('1')}...\n# between\n--- # marker\n${asField('a')}---\n\n${asField('"b"')}\n...\n`;
  assert.ok(readFromCst(stream));
  assert.equal(cstDocuments(stream).length, 3);
  assertReadsAsComposed(stream);
});

test('a List reads item by item, each with positions of its own', () => {
  const list = 'apiVersion: v1\nkind: PodList\nitems:\n  - apiVersion: v1\n    kind: Pod\n    metadata: {name: a}\n  - kind: Pod\n    metadata:\n      name: b\nmetadata: {}\n';
  assert.ok(readFromCst(list));
  assertReadsAsComposed(list);
  assert.equal(read(list).objects.length, 2);
  assert.equal(read(list).objects[1].at(['metadata', 'name']), `${FILE}:9:13`);
  for (const bad of ['  - just a string\n', '  -\n', '  - [a]\n']) {
    const text = `kind: PodList\nitems:\n  - kind: Pod\n${bad}`;
    assertReadsAsComposed(text);
    assert.match(read(text).error ?? '', /: List item is not an object$/);
  }
  assertReadsAsComposed('kind: PodList\nitems: [a, b]\n');
  assertReadsAsComposed('kind: PodList\nitems: []\n');
  assertReadsAsComposed('kind: PodList\nitems:\n');
  assertReadsAsComposed('kind: List\nitems: not a list\n');
});

/** Documents the CST reader leaves to the Composer, each with why. */
const COMPOSED = [
  ['an anchor and an alias', 'a: &x {b: 1}\nc: *x\n'],
  ['a tag', 'a: !!str 123\n'],
  ['a tag on a key', '!!str 1: a\n'],
  ['a custom tag', 'a: !thing x\n'],
  ['an explicit key', '? a\n: b\n'],
  ['a block scalar key', '? |\n  a\n: b\n'],
  ['a flow collection as a key', '[a, b]: c\n'],
  ['a duplicate key', 'a: 1\nb: 2\na: 3\n'],
  ['keys equal as text', '1: a\n"1": b\n'],
  ['a tab in indentation', 'a:\n\t- b\n'],
  ['a tab after the colon', 'a:\tb\n'],
  ['a nested flow collection', 'a: [[1, 2], 3]\n'],
  ['a flow map in a flow sequence', 'a: [{b: 1}]\n'],
  ['a pair in a flow sequence', 'a: [b: 1]\n'],
  ['a root scalar', 'just text\n'],
  ['a root sequence', '- a\n- b\n'],
  ['a root flow map', '{a: 1}\n'],
  ['an empty document', ''],
  ['a syntax error', 'a: "unclosed\n'],
  ['a key without a value', 'a: 1\nb\nc: 2\n'],
  ['a multi-line key', 'a\n  b: 1\n'],
  ['a compact nested map', 'a: b: c\n'],
  ['a comment without a space', 'a: "b"# c\n'],
  ['a bad indentation', 'a:\n  b: 1\n c: 2\n'],
  ['a bad scalar start', 'a: @x\n'],
  ['a long key', `${'k'.repeat(600)}: v\n`],
  ['an unclosed flow sequence', 'a: [1, 2\nb: 3\n'],
  ['a missing comma', 'a: {b: 1 c: 2}\n'],
  ['a leading comma', 'a: [, b]\n'],
  ['an empty flow item', 'a: [b, , c]\n'],
  ['a document start with a block map on its line', '--- a: 1\n'],
] as const;

test('what the CST reader does not take, the Composer reads as before: aliases resolve, tags hold, errors are yaml\'s', () => {
  for (const [why, text] of COMPOSED) {
    assert.ok(!readFromCst(text) || cstDocuments(text).length === 0, `${why} is left to the Composer`);
    assertReadsAsComposed(text, why);
    assertReadsAsComposed(`apiVersion: v1\nkind: Before\n---\n${text}---\napiVersion: v1\nkind: After\n`, `${why}, between documents`);
  }
  const object = (text: string): Record<string, unknown> => read(text).objects[0].value;
  assert.deepEqual(object('a: &x {b: 1}\nc: *x\n'), { a: { b: 1 }, c: { b: 1 } });
  assert.deepEqual(object('a: !!str 123\nb: 123\n'), { a: '123', b: 123 });
  assert.deepEqual(object('a: 1\na: 2\n'), { a: 2 });
  assert.equal(read('a: 1\na: 2\n').objects[0].at(['a']), `${FILE}:1:4`, 'the first of equal keys, as yaml finds it');
  assert.deepEqual(object('a: yes\nb: <<\n<<: c\n'), { a: 'yes', b: '<<', '<<': 'c' }, 'YAML 1.2: no booleans beyond true and false, no merge keys');
  assert.deepEqual(object('%YAML 1.1\n---\na: yes\n'), { a: true }, 'a directive holds for its document');
});

test('stream tokens between documents reach the Composer as they did', () => {
  const document = 'apiVersion: v1\nkind: Thing\n';
  for (const text of [
    `%YAML 1.2\n---\n${document}---\n${document}`,
    `...\n${document}`,
    `${document}... junk\n---\n${document}`,
    `${document}...\n...\n---\n${document}`,
    `${document}... # c\n${document}`,
    `${document}...# c\n---\n${document}`,
    `\uFEFF${document}`,
    `# only a comment\n`,
    `${document}---\n]\n---\n${document}`,
    `${document}---\n---\n${document}---\n`,
  ]) {
    assertReadsAsComposed(text);
  }
});

test('a syntax error ends the reading where it did, after the objects before it', () => {
  const document = (name: string): string => `apiVersion: v1\nkind: Thing\nmetadata:\n  name: ${name}\n`;
  const text = `${document('a')}---\n${document('b')}---\nbroken: [\n---\n${document('c')}`;
  assertReadsAsComposed(text);
  assert.equal(read(text).objects.length, 2);
  assert.match(read(text).error ?? '', /^objects\.yaml:\d+:\d+: /);
});

/** Random objects from the pieces above, in random layouts, many documents to a stream. */
function randomStream(random: () => number): string {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const indent = pick([2, 4]);
  const pad = (depth: number): string => ' '.repeat(depth * indent);
  const comment = (): string => (random() < 0.15 ? ` # ${pick(['c', '', 'x: y', '#'])}` : '');
  const scalar = (): string => pick([...PLAIN_SCALARS, "'quoted'", '"dq\\t"', '""', '[443, x]', '{a: 1}', '']);
  const block = (depth: number): string => {
    const lines: string[] = [];
    const keys = Math.floor(random() * 4) + 1;
    for (let k = 0; k < keys; k++) {
      const key = pick(['name', 'spec', 'egress', 'ports', '"quoted key"', "'k'", '443', 'true', `key${k}`]);
      if (random() < 0.1) lines.push(`${pad(depth)}# comment line`);
      const shape = depth >= 3 ? 0 : Math.floor(random() * 3);
      if (shape === 0) lines.push(`${pad(depth)}${key}: ${scalar()}${comment()}`);
      else if (shape === 1) lines.push(`${pad(depth)}${key}:${comment()}`, block(depth + 1));
      else {
        lines.push(`${pad(depth)}${key}:${comment()}`);
        const seqIndent = random() < 0.5 ? depth : depth + 1;
        for (let i = Math.floor(random() * 3); i >= 0; i--) {
          if (random() < 0.5) lines.push(`${pad(seqIndent)}- ${scalar()}${comment()}`);
          else lines.push(`${pad(seqIndent)}-${random() < 0.5 ? '' : ' '}`, block(seqIndent + 1));
        }
      }
    }
    return lines.join('\n');
  };
  const documents: string[] = [];
  for (let d = Math.floor(random() * 4); d >= 0; d--) documents.push(`apiVersion: v1\nkind: ${pick(['Thing', 'ThingList'])}\n${block(0)}\n`);
  return documents.map((document, index) => (index === 0 ? '' : pick(['---\n', '--- # next\n', '...\n---\n'])) + document).join('');
}

test('random streams read as composed', () => {
  const random = seededRandom(20260512);
  for (let i = 0; i < 400; i++) {
    const text = randomStream(random);
    assertReadsAsComposed(random() < 0.2 ? withCrlf(text) : text);
  }
});
