/** `dnsgate validate PATH…`: one line per problem; exit 0 when valid, 1 when any error. */
import { Command } from 'commander';
import { loadPolicies } from '../policy/loader.js';
import { compareProblems, formatProblem } from '../policy/problems.js';

export function validateCommand(): Command {
  return new Command('validate')
    .description('check Calico policy files: one line per problem as file:line:col: message; exit 0 when all are valid, 1 otherwise')
    .argument('<paths...>', 'YAML or JSON files, or directories of them, holding projectcalico.org/v3 resources')
    .action(async (paths: string[]) => {
      const result = await loadPolicies(paths);
      const problems = result.ok ? result.warnings : [...result.errors, ...result.warnings].sort(compareProblems);
      process.stdout.write(problems.map((problem) => `${formatProblem(problem)}\n`).join(''));
      process.exitCode = result.ok ? 0 : 1;
    });
}
