/** Reading the counting rules: totals per reference survive chains replaced between readings. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CounterTotals, parseCountedRules } from '../../src/dataplane/nftables/counters.js';

function listing(rules: { chain: string; handle: number; comment?: string; packets?: number }[]): string {
  return JSON.stringify({
    nftables: [
      { metainfo: { version: '1.0.6' } },
      ...rules.map((rule) => ({
        rule: { family: 'inet', table: 'dnsgate', chain: rule.chain, handle: rule.handle, comment: rule.comment, expr: [{ match: {} }, ...(rule.packets === undefined ? [] : [{ counter: { packets: rule.packets, bytes: 60 * rule.packets } }]), { return: null }] },
      })),
    ],
  });
}

test('only rules with a counter and a reference count; staged chains apart from audit counters', () => {
  const totals = new CounterTotals();
  const counts = totals.update(
    parseCountedRules(
      listing([
        { chain: 'staged_tier_a', handle: 3, comment: 'default|shop/default.staged:p|deny|1', packets: 2 },
        { chain: 'class_b', handle: 4, comment: 'default|shop/default.p|deny|0', packets: 5 },
        { chain: 'class_b', handle: 5, comment: 'default|shop/default.p|allow|1' },
        { chain: 'egress_forward', handle: 6, packets: 9 },
      ]),
    ),
  );
  assert.deepEqual([...counts.staged], [['default|shop/default.staged:p|deny|1', 2]]);
  assert.deepEqual([...counts.audit], [['default|shop/default.p|deny|0', 5]]);
});

test('growth is added once; a replaced chain starts again from zero without losing the total', () => {
  const totals = new CounterTotals();
  const ref = 'default|default-action|deny|-1';
  totals.update(parseCountedRules(listing([{ chain: 'staged_tier_a', handle: 3, comment: ref, packets: 4 }])));
  assert.equal(totals.update(parseCountedRules(listing([{ chain: 'staged_tier_a', handle: 3, comment: ref, packets: 6 }]))).staged.get(ref), 6);
  // The chain was replaced: a new chain, its counter from zero.
  assert.equal(totals.update(parseCountedRules(listing([{ chain: 'staged_tier_c', handle: 9, comment: ref, packets: 1 }]))).staged.get(ref), 7);
  assert.equal(totals.update(parseCountedRules(listing([{ chain: 'staged_tier_c', handle: 9, comment: ref, packets: 1 }]))).staged.get(ref), 7);
});
