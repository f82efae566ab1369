/**
 * `GET /v1/staged` and the `dnsgate_staged_*` and `dnsgate_audit_*` metrics: the staged
 * policies with the packets each of their rules would have decided, and what `--audit`
 * would have dropped, from the dataplane's counters.
 */
import { Counter, type Registry } from './prom.js';
import type { RuleCounts } from '../dataplane/dataplane.js';
import type { PolicyEngine } from '../policy/engine.js';
import type { StagedAction, StagedKind } from '../policy/model.js';

export interface StagedReport {
  policies: { kind: StagedKind; name: string; stagedAction: StagedAction; target: string }[];
  /**
   * The staged rules in evaluation order, then the tier defaults that decided packets in
   * the staged view. `packets` is null when the dataplane counts nothing (`--dataplane none`).
   */
  rules: { rule: string; packets: number | null }[];
}

/** The ACTION part of a reference `TIER|POLICY|ACTION|INDEX`. */
function actionOf(ref: string): string {
  return ref.split('|').at(-2) ?? '';
}

export function stagedReport(engine: PolicyEngine, counts: RuleCounts | undefined): StagedReport {
  const policies = engine.policies.stagedPolicies.map((policy) => ({
    kind: policy.staged?.kind as StagedKind,
    name: policy.refName,
    stagedAction: policy.staged?.action as StagedAction,
    target: policy.staged?.target as string,
  }));
  const refs = (engine.staged?.policies.egressRules ?? []).filter((rule) => rule.policy.staged !== undefined).map((rule) => rule.ref);
  const listed = new Set(refs);
  for (const ref of counts?.staged.keys() ?? []) if (!listed.has(ref)) refs.push(ref);
  return { policies, rules: refs.map((rule) => ({ rule, packets: counts === undefined ? null : (counts.staged.get(rule) ?? 0) })) };
}

/** Registers the counters, read from the dataplane at each scrape; a failed read leaves them out of that scrape. */
export function registerRuleCountMetrics(registry: Registry, source: () => Promise<RuleCounts> | undefined): void {
  const counts = (): Promise<RuleCounts | undefined> => Promise.resolve(source()).catch(() => undefined);
  new Counter({
    name: 'dnsgate_staged_packets_total',
    help: 'Packets the staged view of the policies would have decided, by deciding rule reference and verdict (nftables shadow evaluation)',
    labelNames: ['rule', 'verdict'],
    registers: [registry],
    async collect() {
      const read = await counts();
      this.reset();
      for (const [rule, packets] of read?.staged ?? []) this.inc({ rule, verdict: actionOf(rule) }, packets);
    },
  });
  new Counter({
    name: 'dnsgate_audit_denied_packets_total',
    help: 'Packets --audit let through that a Deny rule or tier default would have dropped, by rule reference',
    labelNames: ['rule'],
    registers: [registry],
    async collect() {
      const read = await counts();
      this.reset();
      for (const [rule, packets] of read?.audit ?? []) this.inc({ rule }, packets);
    },
  });
}
