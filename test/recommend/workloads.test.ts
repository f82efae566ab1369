/** Grouping records into workloads and choosing their selectors, from log records built here. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ObservedAnswer } from '../../src/recommend/log-reader.js';
import { parseLogLine } from '../../src/recommend/log-reader.js';
import { recommend } from '../../src/recommend/recommend.js';
import { renderRecommendation } from '../../src/recommend/render.js';
import { ObservationBuilder } from '../../src/recommend/workloads.js';
import { loadPolicies } from '../../src/policy/loader.js';

function answer(namespace: string, aggregated: string, labels: Record<string, string> | null, qname: string): ObservedAnswer {
  return {
    startTime: '2026-11-22T15:00:00.000000000Z',
    endTime: '2026-11-22T15:05:00.000000000Z',
    count: 1,
    clientNamespace: namespace,
    clientNameAggr: aggregated,
    clientLabels: labels,
    qname,
    rcode: 'NoError',
    rrsets: [{ name: qname, type: 'A', rdata: ['192.0.2.1'] }],
  };
}

async function run(answers: ObservedAnswer[]): Promise<{ text: string; result: ReturnType<typeof recommend> }> {
  const builder = new ObservationBuilder([]);
  for (const item of answers) builder.add(item);
  const result = recommend(builder.observation, { minCount: 1, wildcardMin: 5, clusterDomains: ['cluster.local'] });
  const text = renderRecommendation(result, { files: ['dns.log'], unreadableLines: 0, observation: builder.observation }, { staged: false, networkSet: false, minCount: 1, wildcardMin: 5 });
  const load = await loadPolicies([], [{ path: 'recommended.yaml', text }]);
  assert.ok(load.ok, text);
  return { text, result };
}

describe('workloads and selectors', () => {
  test("a StatefulSet's pods are one workload; its per-pod label is left out of the selector", async () => {
    const db = (ordinal: number): ObservedAnswer =>
      answer('data', `db-${ordinal}`, { app: 'db', 'statefulset.kubernetes.io/pod-name': `db-${ordinal}`, 'controller-revision-hash': 'db-6d4f' }, `r${ordinal}.example.com`);
    const { result } = await run([db(0), db(1)]);
    assert.deepEqual(
      result.workloads.map((entry) => [entry.workload.aggregatedName, entry.selector.ok && entry.selector.selector, entry.patterns]),
      [['db-*', "app == 'db'", ['r0.example.com', 'r1.example.com']]],
    );
  });

  test('a workload whose labels another workload carries too is told apart by a label of the other', async () => {
    const { result } = await run([
      answer('shop', 'web-1a2b3c-*', { app: 'web', 'pod-template-hash': '1a2b3c' }, 'a.example.com'),
      answer('shop', 'web-canary-4d5e6f-*', { app: 'web', track: 'canary', 'pod-template-hash': '4d5e6f' }, 'b.example.com'),
    ]);
    assert.deepEqual(
      result.workloads.map((entry) => entry.selector.ok && entry.selector.selector),
      ["app == 'web' && track != 'canary'", "app == 'web' && track == 'canary'"],
    );
  });

  test('without a stable label the policy is written commented out with the reason', async () => {
    const { text } = await run([
      answer('shop', 'job-x-*', { 'pod-template-hash': 'x', 'projectcalico.org/namespace': 'shop' }, 'a.example.com'),
      answer('shop', 'nolabels-*', null, 'b.example.com'),
    ]);
    assert.match(text, /^# NOT APPLICABLE AS IS: no selector picks only this workload: its pods share no label that is not per pod or per revision\.$/m);
    assert.match(text, /^# NOT APPLICABLE AS IS: no selector picks only this workload: its log records carry no client labels/m);
    assert.match(text, /^# kind: NetworkPolicy$/m);
    assert.doesNotMatch(text, /^kind:/m, 'nothing applicable');
  });

  test('log lines: records of type log are read, unlogged records skipped, anything else unreadable', () => {
    assert.equal(parseLogLine('{"start_time":"a","end_time":"b","type":"unlogged","count":3}'), null);
    assert.equal(parseLogLine('not json'), undefined);
    assert.equal(parseLogLine('{"type":"log","qname":1}'), undefined);
  });
});
