/** The JSON API of the admin server: `/v1/allowed`, `/v1/explain` and `/v1/staged`. */
import { allowedEntriesReply } from '../allowmap/api.js';
import type { AllowedMap } from '../allowmap/map.js';
import type { Pod } from '../identity/pod.js';
import { canonicalIp } from '../net/address.js';
import { explain, parseConnectionFilters, type PolicyEngine } from '../policy/index.js';
import type { RuleCounts } from '../dataplane/dataplane.js';
import type { AdminServer } from './server.js';
import { stagedReport } from './staged.js';

export interface ApiSources {
  map: AllowedMap;
  /** The engine of the current policies and pods. */
  policy: { readonly current: PolicyEngine };
  scope: 'pod' | 'node';
  /** The dataplane's packet counts of staged rules and audit drops, when it keeps any. */
  ruleCounts: () => Promise<RuleCounts> | undefined;
}

export function addApiRoutes(admin: AdminServer, { map, policy, scope, ruleCounts }: ApiSources): void {
  admin.addRoute('/v1/allowed', (params) =>
    allowedEntriesReply(map, params, (ip) => {
      const engine = policy.current;
      const pod = engine.identities.podByIp(ip);
      return { podKey: pod?.key, rules: new Set(engine.forClient(pod).egressRules.map((rule) => rule.ref)) };
    }),
  );
  admin.addRoute('/v1/explain', (params) => {
    const client = params.get('client');
    const name = params.get('name');
    if (client === null || name === null) return { status: 400, body: { error: 'client and name are required' } };
    if (canonicalIp(client) === undefined) return { status: 400, body: { error: `client: not an IP address: ${JSON.stringify(client)}` } };
    let filters;
    try {
      filters = parseConnectionFilters(params.get('protocol') ?? undefined, params.get('port') ?? undefined);
    } catch (error) {
      return { status: 400, body: { error: (error as Error).message } };
    }
    // What the proxy learnt for the pod and name is what its connections go to.
    const learnt = (pod: Pod, domain: string) => map.learntFor(scope === 'pod' ? pod.key : undefined, domain);
    return { status: 200, body: explain(policy.current, { client, name, ...filters }, learnt) };
  });
  admin.addRoute('/v1/staged', async () => ({ status: 200, body: stagedReport(policy.current, await ruleCounts()) }));
}
