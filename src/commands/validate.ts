/**
 * `dnsgate validate PATH…`: one line per problem; exit 0 when valid, 1 when any error,
 * 2 when a path given cannot be read (a usage error, like a missing argument).
 */
import { stat } from 'node:fs/promises';
import { Command } from 'commander';
import { ConfigError, errorText } from '../util/errors.js';
import { loadPolicies } from '../policy/loader.js';
import { compareProblems, formatProblem } from '../policy/problems.js';

export function validateCommand(): Command {
  return new Command('validate')
    .description('check Calico policy files: one line per problem as file:line:col: message; exit 0 when all are valid, 1 otherwise, 2 when a path cannot be read')
    .argument('<paths...>', 'YAML or JSON files, or directories of them, holding projectcalico.org/v3 resources')
    .action(async (paths: string[]) => {
      for (const path of paths) {
        await stat(path).catch((error: unknown) => {
          throw new ConfigError(`${path}: cannot read: ${errorText(error)}`);
        });
      }
      const result = await loadPolicies(paths);
      const problems = result.ok ? result.warnings : [...result.errors, ...result.warnings].sort(compareProblems);
      process.stdout.write(problems.map((problem) => `${formatProblem(problem)}\n`).join(''));
      process.exitCode = result.ok ? 0 : 1;
    });
}
