import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadPolicies } from '../../src/policy/loader.js';
import { formatProblem } from '../../src/policy/problems.js';
import { TempDir } from './files.js';

function tier(name: string): string {
  return `apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: ${name}}\n`;
}

async function tierNames(paths: string[]): Promise<string[]> {
  const result = await loadPolicies(paths);
  assert.ok(result.ok, result.ok ? '' : result.errors.map(formatProblem).join('\n'));
  return result.policies.tiers.map(({ tier }) => tier.name).filter((name) => name !== 'default').sort();
}

test('directories are read recursively: .yaml, .yml and .json; other files and dot-entries are skipped', async () => {
  const dir = new TempDir();
  try {
    dir.write('a.yaml', tier('a'));
    dir.write('b.YML', tier('b'));
    dir.write('notes.txt', 'not yaml: [');
    dir.write('.hidden.yaml', tier('hidden'));
    mkdirSync(join(dir.path, 'nested', 'deeper'), { recursive: true });
    writeFileSync(join(dir.path, 'nested', 'deeper', 'c.json'), JSON.stringify({ apiVersion: 'projectcalico.org/v3', kind: 'Tier', metadata: { name: 'c' } }));
    // How a ConfigMap volume looks: the files twice, once through `..data`.
    mkdirSync(join(dir.path, '..2024_01_01'));
    writeFileSync(join(dir.path, '..2024_01_01', 'd.yaml'), tier('d'));
    symlinkSync('..2024_01_01', join(dir.path, '..data'));
    symlinkSync(join('..data', 'd.yaml'), join(dir.path, 'd.yaml'));
    assert.deepEqual(await tierNames([dir.path]), ['a', 'b', 'c', 'd']);
  } finally {
    dir.remove();
  }
});

test('a file named explicitly is read whatever its extension; a directory loop is read once', async () => {
  const dir = new TempDir();
  try {
    const file = dir.write('policies.txt', tier('explicit'));
    mkdirSync(join(dir.path, 'loop'));
    writeFileSync(join(dir.path, 'loop', 'l.yaml'), tier('looped'));
    symlinkSync('..', join(dir.path, 'loop', 'up'));
    assert.deepEqual(await tierNames([file]), ['explicit']);
    assert.deepEqual(await tierNames([join(dir.path, 'loop')]), ['looped']);
  } finally {
    dir.remove();
  }
});

test('multi-document YAML, List kinds, empty documents and a trailing --- all load', async () => {
  const dir = new TempDir();
  try {
    const file = dir.write(
      'multi.yaml',
      `---
${tier('one')}---
---
apiVersion: v1
kind: List
items:
  - ${tier('two').replace(/\n(?=.)/g, '\n    ')}  - ${tier('three').replace(/\n(?=.)/g, '\n    ')}---
`,
    );
    assert.deepEqual(await tierNames([file]), ['one', 'three', 'two']);
  } finally {
    dir.remove();
  }
});

test('several paths load as one set, so names must be unique across them', async () => {
  const dir = new TempDir();
  try {
    const a = dir.write('a.yaml', tier('x'));
    const b = dir.write('b.yaml', tier('x'));
    const result = await loadPolicies([a, b]);
    assert.ok(!result.ok);
    assert.deepEqual(result.errors.map(formatProblem), [`${b}:1:1: duplicate Tier x, first defined at ${a}:1:1`]);
  } finally {
    dir.remove();
  }
});

test('no paths at all is a valid, empty set', async () => {
  const result = await loadPolicies([]);
  assert.ok(result.ok);
  assert.deepEqual(result.policies.policies, []);
});
