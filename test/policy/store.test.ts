import assert from 'node:assert/strict';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { IdentitySnapshot } from '../../src/identity/snapshot.js';
import { IdentityStore } from '../../src/identity/store.js';
import { LiveEngine } from '../../src/policy/live-engine.js';
import type { PolicySet } from '../../src/policy/policy-set.js';
import { PolicyStore } from '../../src/policy/store.js';
import { waitFor } from '../helpers/dnsgate.js';
import { TempDir } from './files.js';

function policy(name: string, domain: string): string {
  return `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: ${name}}
spec:
  egress:
    - action: Allow
      destination: {domains: [${domain}]}
`;
}

const BROKEN = policy('broken', "'www.g*.com'");

function names(set: PolicySet): string[] {
  return set.policies.map((p) => p.name);
}

/** A store over `paths` that records what it announces. */
function recordingStore(paths: string[], debounceMs = 20): { store: PolicyStore; changes: PolicySet[]; failures: (readonly string[])[] } {
  const store = new PolicyStore(paths, { debounceMs });
  const changes: PolicySet[] = [];
  const failures: (readonly string[])[] = [];
  store.onChange((set) => changes.push(set));
  store.onReloadFailed((errors) => failures.push(errors));
  return { store, changes, failures };
}

test('good, then bad: the bad reload keeps the previous set and reports each error as one line', async () => {
  const dir = new TempDir();
  try {
    const file = dir.write('p.yaml', policy('first', 'a.com'));
    const { store, changes, failures } = recordingStore([file]);
    assert.deepEqual(names(store.current), []);
    const good = await store.reload();
    assert.ok(good.ok);
    const first = store.current;
    assert.deepEqual([names(first), changes.length], [['first'], 1]);

    writeFileSync(file, BROKEN);
    const bad = await store.reload();
    assert.ok(!bad.ok);
    assert.equal(store.current, first);
    assert.deepEqual(failures, [[`${file}:7:31: spec.egress[0].destination.domains[0]: invalid domain "www.g*.com": "*" must be a whole label`]]);
    assert.equal(changes.length, 1);
  } finally {
    dir.remove();
  }
});

test('bad, then good: the first valid load replaces the empty set', async () => {
  const dir = new TempDir();
  try {
    const file = dir.write('p.yaml', BROKEN);
    const { store, changes, failures } = recordingStore([file]);
    assert.equal((await store.reload()).ok, false);
    assert.deepEqual([names(store.current), failures.length], [[], 1]);
    writeFileSync(file, policy('fixed', 'a.com'));
    assert.equal((await store.reload()).ok, true);
    assert.deepEqual([names(store.current), changes.length], [['fixed'], 1]);
  } finally {
    dir.remove();
  }
});

test('a reload that reads the same files again keeps the current set and announces nothing', async () => {
  const dir = new TempDir();
  try {
    const file = dir.write('p.yaml', policy('same', 'a.com'));
    const { store, changes } = recordingStore([file]);
    await store.reload();
    const first = store.current;
    await store.reload();
    assert.equal(store.current, first);
    assert.equal(changes.length, 1);
  } finally {
    dir.remove();
  }
});

test('concurrent reloads run one after another and the last one wins', async () => {
  const dir = new TempDir();
  try {
    const file = dir.write('p.yaml', policy('one', 'a.com'));
    const { store } = recordingStore([file]);
    const first = store.reload();
    writeFileSync(file, policy('two', 'a.com'));
    const second = store.reload();
    await Promise.all([first, second]);
    assert.deepEqual(names(store.current), ['two']);
  } finally {
    dir.remove();
  }
});

test('watching a file: an edit reloads, a broken edit is reported and keeps the set, a rename-over reloads', async () => {
  const dir = new TempDir();
  const file = dir.write('p.yaml', policy('one', 'a.com'));
  const { store, changes, failures } = recordingStore([file]);
  try {
    await store.reload();
    store.watch();
    writeFileSync(file, policy('two', 'a.com'));
    await waitFor(() => names(store.current)[0] === 'two', 5000, 'reload after an edit');
    writeFileSync(file, BROKEN);
    await waitFor(() => failures.length === 1, 5000, 'a failed reload');
    assert.deepEqual(names(store.current), ['two']);
    // Editors and ConfigMap volumes replace files by rename.
    writeFileSync(join(dir.path, 'new.tmp'), policy('three', 'a.com'));
    renameSync(join(dir.path, 'new.tmp'), file);
    await waitFor(() => names(store.current)[0] === 'three', 5000, 'reload after a rename');
    assert.deepEqual(changes.map(names), [['one'], ['two'], ['three']]);
  } finally {
    store.close();
    dir.remove();
  }
});

test('watching a directory: a new file in a new subdirectory is picked up', async () => {
  const dir = new TempDir();
  dir.write('a.yaml', policy('a', 'a.com'));
  const { store } = recordingStore([dir.path]);
  try {
    await store.reload();
    store.watch();
    mkdirSync(join(dir.path, 'team'));
    writeFileSync(join(dir.path, 'team', 'b.yml'), policy('b', 'b.com'));
    await waitFor(() => names(store.current).length === 2, 5000, 'reload after a new file');
    assert.deepEqual(names(store.current), ['a', 'b']);
  } finally {
    store.close();
    dir.remove();
  }
});

test('after close, changes are no longer watched', async () => {
  const dir = new TempDir();
  const file = dir.write('p.yaml', policy('one', 'a.com'));
  const { store } = recordingStore([file], 10);
  try {
    await store.reload();
    store.watch();
    store.close();
    writeFileSync(file, policy('two', 'a.com'));
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(names(store.current), ['one']);
  } finally {
    dir.remove();
  }
});

test('LiveEngine: a new engine after a policy change or an identity change, the same one otherwise', async () => {
  const dir = new TempDir();
  try {
    const file = dir.write('p.yaml', policy('one', 'a.com'));
    const policies = new PolicyStore([file]);
    const identities = new IdentityStore();
    const live = new LiveEngine(policies, identities);
    const empty = live.current;
    assert.equal(live.current, empty);
    await policies.reload();
    const loaded = live.current;
    assert.notEqual(loaded, empty);
    assert.deepEqual(names(loaded.policies), ['one']);
    identities.replace(IdentitySnapshot.empty(), 'test');
    assert.notEqual(live.current, loaded);
    assert.equal(live.current.identities, identities.current);
  } finally {
    dir.remove();
  }
});
