/**
 * `dnsgate recommend --logs PATH…`: one Calico egress policy per workload, from the
 * names its pods resolved in DNS logs, on stdout. The output is checked as `validate`
 * checks it before it is printed.
 */
import { Command, InvalidArgumentError } from 'commander';
import { normalizeQueryName } from '../policy/domain-pattern.js';
import { loadPolicies } from '../policy/loader.js';
import { formatProblem } from '../policy/problems.js';
import { ConfigError } from '../util/errors.js';

interface RecommendFlags {
  logs: string[];
  namespace?: string[];
  minCount: number;
  wildcardMin: number;
  staged?: boolean;
  networkSet?: boolean;
  clusterDomain?: string[];
}

const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';

function repeatable(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function integerAtLeast(min: number): (value: string) => number {
  return (value) => {
    const number = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(number) || number < min) throw new InvalidArgumentError(`must be an integer of at least ${min}`);
    return number;
  };
}

export function recommendCommand(): Command {
  return new Command('recommend')
    .description('egress policies per workload from DNS logs: DNS to kube-dns plus the names it resolved, siblings collapsed to wildcards')
    .requiredOption('--logs <path>', 'dns.log, a log directory (with its rotated files) or - for stdin (repeatable)', repeatable)
    .option('--namespace <ns>', 'policies only for workloads of this namespace (repeatable); names other namespaces resolved still keep wildcards off', repeatable)
    .option('--min-count <n>', 'answers a name needs to be kept', integerAtLeast(1), 1)
    .option('--wildcard-min <k>', 'distinct sibling names under one parent that become *.parent', integerAtLeast(2), 5)
    .option('--staged', 'write StagedNetworkPolicy (stagedAction: Set), which enforces nothing; dnsgate stage does the same for a reviewed file')
    .option('--network-set', "put the names in a NetworkSet's allowedEgressDomains and select it")
    .option('--cluster-domain <name>', `names under it are cluster-internal and left out (repeatable; default ${DEFAULT_CLUSTER_DOMAIN})`, repeatable)
    .action(async (flags: RecommendFlags) => {
      // Loaded here, not with the CLI: `serve` would otherwise carry the public-suffix list in memory.
      const { LogPathError, ObservationBuilder, readLogs, recommend, renderRecommendation } = await import('../recommend/index.js');
      const builder = new ObservationBuilder();
      let summary;
      try {
        summary = await readLogs(flags.logs, (answer) => builder.add(answer));
      } catch (error) {
        if (error instanceof LogPathError) throw new ConfigError(error.message);
        throw error;
      }
      const clusterDomains = (flags.clusterDomain ?? [DEFAULT_CLUSTER_DOMAIN]).map(normalizeQueryName);
      const result = recommend(builder.observation, { minCount: flags.minCount, wildcardMin: flags.wildcardMin, clusterDomains, namespaces: flags.namespace ?? [] });
      const options = { staged: flags.staged === true, networkSet: flags.networkSet === true, minCount: flags.minCount, wildcardMin: flags.wildcardMin };
      const text = renderRecommendation(result, { files: summary.files, unreadableLines: summary.unreadable, observation: builder.observation }, options);
      // What is printed must pass `dnsgate validate`; anything else is a bug here.
      const check = await loadPolicies([], [{ path: '<recommendation>', text }]);
      if (!check.ok) throw new Error(`the recommendation does not validate:\n${check.errors.map(formatProblem).join('\n')}`);
      process.stdout.write(text);
    });
}
