/** The node flags dnsgate ships with: one set, in `npm start` and the image, and what the bench runs dnsgate under. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { nodeFlagsOf, shippedNodeFlags } from '../../bench/node-flags.js';

const DOCKERFILE = fileURLToPath(new URL('../../../docker/Dockerfile', import.meta.url));

test('npm start and the image run node with the same flags, and the bench reads them', () => {
  const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(readFileSync(DOCKERFILE, 'utf8'));
  assert.ok(entrypoint, 'the Dockerfile has an exec-form ENTRYPOINT');
  const argv = JSON.parse(entrypoint[1]) as string[];
  assert.equal(argv[0], 'node');
  assert.deepEqual(argv.slice(1, -1), shippedNodeFlags());
  assert.ok(shippedNodeFlags().includes('--max-semi-space-size=2'), 'the young generation is kept small');
  assert.ok(shippedNodeFlags().includes('--heap-growing-percent=25'), 'the old generation grows by a quarter, not up to fourfold');
});

test('flags are what stands between node and the script', () => {
  assert.deepEqual(nodeFlagsOf('node --a=1 --b dist/src/cli.js serve'), ['--a=1', '--b']);
  assert.deepEqual(nodeFlagsOf('node dist/src/cli.js serve'), []);
  assert.throws(() => nodeFlagsOf('tsx src/cli.ts'), /npm start is not/);
});
