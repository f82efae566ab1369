/** Temporary policy files for the policy tests, and the repository's fixtures. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPodsFile } from '../../src/identity/podfile.js';
import type { IdentitySnapshot } from '../../src/identity/snapshot.js';
import { loadPolicies } from '../../src/policy/loader.js';
import type { PolicySet } from '../../src/policy/policy-set.js';
import { compareProblems, formatProblem } from '../../src/policy/problems.js';

/** From dist/test/policy back to the repository root. */
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const EXAMPLES = join(REPO, 'config', 'policies');
/** The shipped example pods file, which the examples' policies select. */
export const PODS_FIXTURE = join(REPO, 'config', 'pods.yaml');
/** Copies of the shared Calico test cases, so that a clean clone carries them. */
export const TESTDATA = join(REPO, 'test', 'policy', 'fixtures');

export class TempDir {
  readonly path = mkdtempSync(join(tmpdir(), 'dnsgate-policy-'));

  write(name: string, text: string): string {
    const path = join(this.path, name);
    writeFileSync(path, text);
    return path;
  }

  remove(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}

/** Loads `yaml` as one policy file; throws with the problems when it is invalid. */
export async function policiesFrom(yaml: string): Promise<PolicySet> {
  const dir = new TempDir();
  try {
    const result = await loadPolicies([dir.write('policies.yaml', yaml)]);
    if (!result.ok) throw new Error(result.errors.map(formatProblem).join('\n'));
    return result.policies;
  } finally {
    dir.remove();
  }
}

/** The problems of `yaml` as one policy file, as formatted lines, sorted, its path cut to `policies.yaml`. */
export async function problemLines(yaml: string): Promise<string[]> {
  const dir = new TempDir();
  try {
    const file = dir.write('policies.yaml', yaml);
    const result = await loadPolicies([file]);
    const problems = result.ok ? result.warnings : [...result.errors, ...result.warnings].sort(compareProblems);
    return problems.map((problem) => formatProblem(problem).replaceAll(file, 'policies.yaml'));
  } finally {
    dir.remove();
  }
}

export function fixturePods(): Promise<IdentitySnapshot> {
  return loadPodsFile(PODS_FIXTURE);
}
