/** The micro-benchmarks run, report sane figures, and the domain index meets its target. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { benchDomainIndex } from '../../bench/micro/domain-index.js';
import { benchSelector } from '../../bench/micro/selector.js';

/**
 * The target is 2 µs per lookup on an idle machine (see src/policy/README.md); a test run
 * shares the CPU, so this bound is ten times looser. It still fails for a lookup that
 * walks the patterns: comparing a name with 10,000 of them takes far longer.
 */
test('domain index: 10k patterns, lookups far from a scan of the patterns', async () => {
  const results = await benchDomainIndex();
  const lookup = results.find((result) => result.unit === 'ns/lookup');
  assert.ok(lookup, JSON.stringify(results));
  assert.ok(lookup.value > 0 && lookup.value <= 20_000, `${lookup.value} ns per lookup`);
});

test('selector benchmark reports evaluation and parse costs', async () => {
  const results = await benchSelector();
  assert.deepEqual(results.map((result) => result.unit), ['ns/evaluation', 'ns/selector']);
  for (const result of results) assert.ok(Number.isFinite(result.value) && result.value > 0, JSON.stringify(result));
});
