/** The dataplane `--dataplane` names. */
import type { NftablesMetrics } from '../admin/metrics.js';
import type { Config } from '../config/options.js';
import type { PolicyEngine } from '../policy/index.js';
import type { Dataplane } from './dataplane.js';
import { NftablesDataplane } from './nftables/nftables.js';
import type { Logger } from '../util/logger.js';
import { NoDataplane } from './none.js';

/** The settings of the dataplane. */
export type DataplaneConfig = Pick<Config, 'dataplane' | 'nftTable' | 'nftHook' | 'scope' | 'audit' | 'upstream' | 'intercept'>;

export function createDataplane(config: DataplaneConfig, policy: { readonly current: PolicyEngine }, metrics: NftablesMetrics, logger: Logger): Dataplane {
  if (config.dataplane === 'none') return new NoDataplane();
  // With interception in the pod's netns, dnsgate's own queries leave from UPSTREAM_SOURCE_PORTS
  // and pass, and so does the pod's DNS to the targets (see RulesetOptions). Upstreams and
  // targets named by a Service are resolved later; their traffic is subject to the pod's policy.
  const sidecarInterception = config.intercept.length > 0 && config.nftHook === 'output';
  const addresses = (specs: DataplaneConfig['upstream']) => (sidecarInterception ? specs.flatMap((spec) => (spec.kind === 'address' ? [spec.endpoint] : [])) : []);
  const options = { table: config.nftTable, hook: config.nftHook, scope: config.scope, audit: config.audit, ownUpstreams: addresses(config.upstream), interceptTargets: addresses(config.intercept) };
  return new NftablesDataplane(options, policy, metrics, logger);
}
