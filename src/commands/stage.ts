/**
 * `dnsgate stage FILE…`: the policies of reviewed files as Calico staged policies on
 * stdout, to apply beside the enforced ones; they enforce nothing. The files are checked
 * as `validate` checks them, and so is what is printed.
 */
import { Command } from 'commander';
import { loadPolicies, type PolicyFile } from '../policy/loader.js';
import { formatProblem } from '../policy/problems.js';
import { ConfigError, errorText } from '../util/errors.js';
import { readInputFile } from '../yaml/read.js';

async function checked(files: readonly PolicyFile[], what: string): Promise<void> {
  const load = await loadPolicies([], files);
  if (load.ok) return;
  process.stderr.write(load.errors.map((problem) => `${formatProblem(problem)}\n`).join(''));
  throw new ConfigError(`${what}: ${load.errors.length} error(s); nothing staged`);
}

export function stageCommand(): Command {
  return new Command('stage')
    .description(
      'print the policies of FILEs as Calico staged policies (stagedAction: Set), which enforce nothing: NetworkPolicy becomes StagedNetworkPolicy, GlobalNetworkPolicy StagedGlobalNetworkPolicy, a Kubernetes NetworkPolicy StagedKubernetesNetworkPolicy; other resources and comments stay as they are',
    )
    .argument('<files...>', 'YAML or JSON policy files, such as the reviewed output of dnsgate recommend')
    .action(async (paths: string[]) => {
      const files: PolicyFile[] = [];
      for (const path of paths) {
        try {
          files.push({ path, text: await readInputFile(path) });
        } catch (error) {
          throw new ConfigError(`${path}: cannot read: ${errorText(error)}`);
        }
      }
      await checked(files, 'the files');
      // Loaded when run, as recommend's modules are: serve does not carry them.
      const { stagePolicies } = await import('../recommend/index.js');
      const staged = files.map((file) => ({ path: `${file.path} (staged)`, text: stagePolicies(file.text) }));
      await checked(staged, 'their staged form');
      // Each file's first document starts a new one.
      process.stdout.write(staged.map((file, i) => (i > 0 && !file.text.startsWith('---') ? `---\n${file.text}` : file.text)).join(''));
    });
}
