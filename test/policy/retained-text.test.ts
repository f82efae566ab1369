/**
 * Loaded policies keep what they need of a file, not the file: in V8 a string cut from
 * the file's text is a view that keeps the whole text alive. Measured in a child process
 * under --expose-gc, as live heap after a full collection.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TempDir } from './files.js';

const LOADER = fileURLToPath(new URL('../../src/policy/loader.js', import.meta.url));
const MIB = 1024 * 1024;

/** A policy whose domains, selector and names are long enough to be views, behind `paddingMiB` of comments. */
function policyFile(paddingMiB: number, anchored: boolean): string {
  const comment = `# ${'padding '.repeat(12)}\n`;
  const padding = comment.repeat(Math.ceil((paddingMiB * MIB) / comment.length));
  // An anchor sends the document through yaml's Composer instead of the CST reader.
  const domains = anchored ? 'domains: &names [api-0001.example.com, "*.storage-0001.example.net"]' : 'domains: [api-0001.example.com, "*.storage-0001.example.net"]';
  return `${padding}apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: egress-to-example-services
spec:
  selector: app == 'checkout-frontend'
  types: [Egress]
  egress:
    - action: Allow
      destination:
        ${domains}
`;
}

function liveHeapGrowth(file: string): number {
  const script = `
    const { loadPolicies } = await import(${JSON.stringify(LOADER)});
    gc();
    const before = process.memoryUsage().heapUsed;
    const load = await loadPolicies([${JSON.stringify(file)}]);
    if (!load.ok) throw new Error(JSON.stringify(load.errors));
    gc();
    console.log(process.memoryUsage().heapUsed - before, load.policies.egressRules.length);`;
  const [growth, rules] = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' }).trim().split(' ').map(Number);
  assert.equal(rules, 1, 'the policy was loaded');
  return growth;
}

for (const anchored of [false, true]) {
  test(`the policies of a 24 MiB file keep well under a MiB of it (${anchored ? "yaml's Composer" : 'the CST reader'})`, () => {
    const dir = new TempDir();
    try {
      const growth = liveHeapGrowth(dir.write('policy.yaml', policyFile(24, anchored)));
      assert.ok(growth < 4 * MIB, `live heap grew by ${(growth / MIB).toFixed(1)} MiB`);
    } finally {
      dir.remove();
    }
  });
}
