/** The dataplane `--dataplane` names. */
import type { Metrics } from '../admin/metrics.js';
import type { Config } from '../config/load.js';
import type { PolicyEngine } from '../policy/index.js';
import type { Dataplane } from './dataplane.js';
import { NftablesDataplane } from './nftables/nftables.js';
import type { Logger } from '../util/logger.js';
import { NoDataplane } from './none.js';

export function createDataplane(config: Config, policy: { readonly current: PolicyEngine }, metrics: Metrics, logger: Logger): Dataplane {
  if (config.dataplane === 'none') return new NoDataplane();
  return new NftablesDataplane({ table: config.nftTable, hook: config.nftHook, scope: config.scope }, policy, metrics, logger);
}
