/** Writes the workload's files into a directory the bench owns. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { podsYaml, policyYaml } from './cluster.js';
import { ZONE_ORIGIN, zoneText } from './names.js';
import { burstQueries, mixedQueries } from './queries.js';

export interface Workload {
  /** Origin → zone text, for knot. */
  zones: Record<string, string>;
  /** A name every server in front of knot answers once it is ready. */
  probeName: string;
  mixedQueriesFile: string;
  burstQueriesFile: string;
  burstSize: number;
  policyFile: string;
  podsFile: string;
}

export function writeWorkload(dir: string, knotAddress: string, clientIp: string): Workload {
  const write = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const burst = burstQueries();
  return {
    zones: { [ZONE_ORIGIN]: zoneText(knotAddress) },
    probeName: ZONE_ORIGIN,
    mixedQueriesFile: write('mixed.queries', `${mixedQueries().join('\n')}\n`),
    burstQueriesFile: write('burst.queries', `${burst.join('\n')}\n`),
    burstSize: burst.length,
    policyFile: write('policy.yaml', policyYaml()),
    podsFile: write('pods.yaml', podsYaml(clientIp)),
  };
}
