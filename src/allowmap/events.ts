/** What the allowed map tells: counted in its metrics, and a limit that evicts logged with the flag that sets it. */
import type { AllowedMapMetrics } from '../admin/metrics.js';
import type { Logger } from '../util/logger.js';
import type { AllowedMapOptions, MapEvents } from './map.js';

export function reportedMapEvents(limits: Pick<AllowedMapOptions, 'maxEntries' | 'maxIpsPerName'>, metrics: AllowedMapMetrics, logger: Logger): MapEvents {
  return {
    onAdded: () => metrics.learnt.inc(),
    onDomainDropped: () => metrics.learningDropped.labels('entry-names').inc(),
    onEvicted: (reason, entry) => {
      metrics.evicted.labels(reason).inc();
      const limit = reason === 'entry-cap' ? `--max-entries ${limits.maxEntries}` : `--max-ips-per-name ${limits.maxIpsPerName}`;
      logger.error(`allowed map: ${limit} reached, evicted ${entry.ip}${entry.client ? ` of ${entry.client.key}` : ''}`);
    },
  };
}
