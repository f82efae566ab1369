/** Hostile policy, pods and config files: too large, or nested without end. One clear line each. */
import assert from 'node:assert/strict';
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfigFile } from '../../src/config/load.js';
import { loadPodsFile } from '../../src/identity/podfile.js';
import { loadPolicies } from '../../src/policy/loader.js';
import { formatProblem } from '../../src/policy/problems.js';
import { MAX_INPUT_BYTES } from '../../src/yaml/read.js';
import { TempDir } from './files.js';

const HEAD = 'apiVersion: projectcalico.org/v3\nkind: NetworkSet\nmetadata:\n  name: deep\nspec:\n';

const DEEP: [string, string, RegExp][] = [
  ['flow', `${HEAD}  nets: ${'['.repeat(10_000)}${']'.repeat(10_000)}\n`, /:6:\d+: nested deeper than 100 levels$/],
  ['block maps', `${HEAD}${Array.from({ length: 10_000 }, (_, i) => `${' '.repeat(i + 2)}k${i}:`).join('\n')} 1\n`, /:105:\d+: nested deeper than 100 levels$/],
  ['block sequences', `${HEAD}  nets:\n    ${'- '.repeat(10_000)}1\n`, /:7:\d+: nested deeper than 100 levels$/],
];

test('YAML nested 10,000 deep: one file:line:col error, not a stack overflow', async () => {
  const dir = new TempDir();
  try {
    for (const [name, text, expected] of DEEP) {
      const path = dir.write(`${name.replace(' ', '-')}.yaml`, text);
      const load = await loadPolicies([path]);
      assert.equal(load.ok, false, name);
      if (load.ok) continue;
      assert.equal(load.errors.length, 1, name);
      assert.match(formatProblem(load.errors[0]), expected, name);
    }
    const pods = dir.write('pods.yaml', `apiVersion: v1\nkind: Pod\nmetadata: ${'{a: '.repeat(10_000)}1${'}'.repeat(10_000)}\n`);
    await assert.rejects(loadPodsFile(pods), /pods\.yaml:3:\d+: nested deeper than 100 levels$/);
    const config = dir.write('config.yaml', `listen: ${'['.repeat(10_000)}${']'.repeat(10_000)}\n`);
    assert.throws(() => loadConfigFile(config), /config\.yaml:1:\d+: nested deeper than 100 levels$/);
  } finally {
    dir.remove();
  }
});

test('policy, pods and config files above the size cap are refused with the limit named', async () => {
  const dir = new TempDir();
  try {
    const big = join(dir.path, 'big.yaml');
    writeFileSync(big, '');
    truncateSync(big, MAX_INPUT_BYTES + 1);
    const load = await loadPolicies([big]);
    assert.equal(load.ok, false);
    if (!load.ok) assert.match(formatProblem(load.errors[0]), /big\.yaml:1:1: .*file is 64\.0 MB, above the 64 MB limit/);
    await assert.rejects(loadPodsFile(big), /big\.yaml:1:1: file is 64\.0 MB, above the 64 MB limit/);
    assert.throws(() => loadConfigFile(big), /big\.yaml:1:1: file is 64\.0 MB, above the 64 MB limit/);
  } finally {
    dir.remove();
  }
});
