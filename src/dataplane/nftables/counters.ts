/**
 * The packet counters of the rules that count instead of dropping: the staged view's
 * shadow chains and, with `--audit`, every would-be drop. Each counter sits in a rule
 * whose comment is its rule reference.
 *
 * Chains are replaced whole when their content changes, and their counters start again
 * at zero: totals are kept here, per reference, from the growth of each rule's counter
 * between reads (a rule being a chain and handle). The dataplane reads them before each
 * swap, so a replaced rule loses only what it counted in the moment between.
 */
import type { RuleCounts } from '../dataplane.js';
import { STAGED_CHAIN_PREFIX } from './ruleset.js';

export interface CountedRule {
  chain: string;
  handle: number;
  ref: string;
  packets: number;
}

interface NftRule {
  chain?: string;
  handle?: number;
  comment?: string;
  expr?: Record<string, unknown>[];
}

/** The counted rules of `nft -j -t list table` output. */
export function parseCountedRules(json: string): CountedRule[] {
  const parsed = JSON.parse(json) as { nftables?: { rule?: NftRule }[] };
  const counted: CountedRule[] = [];
  for (const item of parsed.nftables ?? []) {
    const rule = item.rule;
    if (rule?.chain === undefined || rule.handle === undefined || rule.comment === undefined) continue;
    const counter = rule.expr?.find((expression) => 'counter' in expression)?.counter as { packets?: number } | undefined;
    if (counter?.packets === undefined) continue;
    counted.push({ chain: rule.chain, handle: rule.handle, ref: rule.comment, packets: counter.packets });
  }
  return counted;
}

export class CounterTotals {
  private last = new Map<string, number>();
  private readonly staged = new Map<string, number>();
  private readonly audit = new Map<string, number>();

  /** Adds what each rule counted since the previous reading. */
  update(rules: readonly CountedRule[]): RuleCounts {
    const seen = new Map<string, number>();
    for (const rule of rules) {
      const key = `${rule.chain}/${rule.handle}`;
      const before = this.last.get(key) ?? 0;
      // A smaller count is a new rule under a reused handle.
      const grown = rule.packets >= before ? rule.packets - before : rule.packets;
      seen.set(key, rule.packets);
      const totals = rule.chain.startsWith(STAGED_CHAIN_PREFIX) ? this.staged : this.audit;
      totals.set(rule.ref, (totals.get(rule.ref) ?? 0) + grown);
    }
    this.last = seen;
    return { staged: new Map(this.staged), audit: new Map(this.audit) };
  }
}
