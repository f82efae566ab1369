/**
 * Reads Calico resources from files and directories (recursively: `.yaml`, `.yml`,
 * `.json`) into a validated PolicySet, or the list of what is wrong.
 */
import { createHash } from 'node:crypto';
import { readdir, realpath, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { forEachObject, SourceError } from '../yaml/documents.js';
import { InputTooLarge, readInputFile } from '../yaml/read.js';
import type { PolicyResources } from './model.js';
import { buildPolicySet, type PolicySet } from './policy-set.js';
import { compareProblems, parsePosition, ProblemList, type PolicyProblem } from './problems.js';
import { addResource } from './resources.js';
import { errorText } from '../util/errors.js';

const POLICY_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

export interface PolicyFile {
  path: string;
  text: string;
}

export type PolicyLoad =
  | {
      ok: true;
      policies: PolicySet;
      warnings: readonly PolicyProblem[];
      /** Digest of the files read, to tell whether a reload changed anything. */
      digest: string;
    }
  | { ok: false; errors: readonly PolicyProblem[]; warnings: readonly PolicyProblem[] };

/**
 * Loads every resource under `paths`, plus `extraFiles` (resources read from elsewhere,
 * such as the Kubernetes API); any error makes the whole load fail.
 */
export async function loadPolicies(paths: readonly string[], extraFiles: readonly PolicyFile[] = []): Promise<PolicyLoad> {
  const problems = new ProblemList();
  const files = [...(await readPolicyFiles(paths, problems)), ...extraFiles];
  const policies = buildPolicySet(parsePolicyFiles(files, problems), problems);
  const sorted = [...problems.items].sort(compareProblems);
  const warnings = sorted.filter((problem) => problem.severity === 'warning');
  if (!policies || problems.hasErrors) return { ok: false, errors: sorted.filter((problem) => problem.severity === 'error'), warnings };
  const hash = createHash('sha256');
  // Piece by piece: one string of a 50 MB file's text would be its peak of memory.
  for (const file of files) hash.update(file.path).update('\0').update(file.text).update('\0');
  return { ok: true, policies, warnings, digest: hash.digest('hex') };
}

function parsePolicyFiles(files: readonly PolicyFile[], problems: ProblemList): PolicyResources {
  const resources: PolicyResources = { tiers: [], policies: [], stagedPolicies: [], networkSets: [] };
  for (const file of files) {
    try {
      forEachObject(file.path, file.text, (object) => addResource(object, file.text, problems, resources));
    } catch (error) {
      if (!(error instanceof SourceError)) throw error;
      problems.error(parsePosition(error.where), error.reason);
    }
  }
  return resources;
}

/**
 * The files named by `paths`, directories expanded in name order. Entries starting with
 * "." are skipped: besides hidden files, that is how a Kubernetes ConfigMap volume's
 * `..data` and timestamped directories would otherwise be read twice.
 */
async function readPolicyFiles(paths: readonly string[], problems: ProblemList): Promise<PolicyFile[]> {
  const files: PolicyFile[] = [];
  const visited = new Set<string>();
  const cannot = (path: string, error: unknown): void => {
    problems.error({ file: path, line: 1, col: 1 }, `cannot read: ${errorText(error)}`);
  };
  const visit = async (path: string, explicit: boolean): Promise<void> => {
    let info;
    try {
      info = await stat(path);
    } catch (error) {
      cannot(path, error);
      return;
    }
    if (info.isDirectory()) {
      let names: string[];
      try {
        const real = await realpath(path);
        if (visited.has(real)) return;
        visited.add(real);
        names = (await readdir(path)).filter((name) => !name.startsWith('.')).sort();
      } catch (error) {
        cannot(path, error);
        return;
      }
      for (const name of names) await visit(join(path, name), false);
    } else if (explicit || (info.isFile() && POLICY_EXTENSIONS.has(extname(path).toLowerCase()))) {
      try {
        files.push({ path, text: await readInputFile(path) });
      } catch (error) {
        if (error instanceof InputTooLarge) problems.error({ file: path, line: 1, col: 1 }, error.message);
        else cannot(path, error);
      }
    }
  };
  for (const path of paths) await visit(path, true);
  return files;
}
