/**
 * `dnsgate explain --policies PATH --pods FILE --client IP --name DOMAIN [--protocol P]
 * [--port N] [--json]`: what the firewall does with the pod's connections to DOMAIN's
 * addresses, and which rule decides; exit 0 when allowed, 1 when not, 2 when the inputs
 * cannot be used.
 */
import { Command } from 'commander';
import { loadPodsFile } from '../identity/podfile.js';
import { canonicalIp } from '../net/address.js';
import { PolicyEngine } from '../policy/engine.js';
import { explain, explainText, parseConnectionFilters, type ExplainRequest } from '../policy/explain.js';
import { loadPolicies } from '../policy/loader.js';
import { formatProblem } from '../policy/problems.js';
import { SourceError } from '../yaml/documents.js';
import { ConfigError } from '../util/errors.js';

interface ExplainOptions {
  policies: string[];
  pods: string;
  client: string;
  name: string;
  protocol?: string;
  port?: string;
  json?: boolean;
}

export function explainCommand(): Command {
  return new Command('explain')
    .description('what the firewall does with connections from the pod at IP to DOMAIN, and which rule decides; exit 0 when allowed, 1 when not')
    .requiredOption('--policies <path>', 'YAML/JSON file or directory of Calico v3 resources (repeatable)', (value: string, previous: string[] | undefined) => [...(previous ?? []), value])
    .requiredOption('--pods <file>', 'Pod and Namespace objects, as kubectl get pods,namespaces -A -o yaml prints them')
    .requiredOption('--client <ip>', 'IP address of the asking pod')
    .requiredOption('--name <domain>', 'the queried name')
    .option('--protocol <protocol>', 'only connections of this protocol (TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or 1-255)')
    .option('--port <port>', 'only connections to this destination port')
    .option('--json', 'print {"allowed","enforced","client","rules","decidedBy","reason","connections"} as JSON')
    .addHelpText('after', `\nExample, from the repository root (the pods file holds the pods the example policies select):
  dnsgate explain --policies config/policies --pods config/pods.yaml --client 10.244.1.10 --name api.alice.com\n`)
    .action(async (options: ExplainOptions) => {
      if (canonicalIp(options.client) === undefined) throw new ConfigError(`--client ${options.client}: not an IP address`);
      let request: ExplainRequest;
      try {
        request = { client: options.client, name: options.name, ...parseConnectionFilters(options.protocol, options.port) };
      } catch (error) {
        throw new ConfigError(`--${(error as Error).message}`);
      }
      const load = await loadPolicies(options.policies);
      process.stderr.write(load.warnings.map((problem) => `${formatProblem(problem)}\n`).join(''));
      if (!load.ok) {
        process.stderr.write(load.errors.map((problem) => `${formatProblem(problem)}\n`).join(''));
        throw new ConfigError(`--policies: ${load.errors.length} error(s); nothing explained`);
      }
      let identities;
      try {
        identities = await loadPodsFile(options.pods);
      } catch (error) {
        if (error instanceof SourceError) throw new ConfigError(error.message);
        throw error;
      }
      const engine = new PolicyEngine(load.policies, identities);
      const result = explain(engine, request);
      process.stdout.write(options.json ? `${JSON.stringify(result)}\n` : explainText(engine, request));
      process.exitCode = result.allowed ? 0 : 1;
    });
}
