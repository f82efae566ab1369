/** Grouping records into workloads and choosing their selectors, from log records built here. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ObservedAnswer } from '../../src/recommend/log-reader.js';
import { parseLogLine } from '../../src/recommend/log-reader.js';
import { recommend } from '../../src/recommend/recommend.js';
import { renderRecommendation } from '../../src/recommend/render.js';
import { ObservationBuilder } from '../../src/recommend/workloads.js';
import { loadPolicies } from '../../src/policy/loader.js';

function answer(namespace: string, aggregated: string, labels: Record<string, string> | null, qname: string, rcode = 'NoError'): ObservedAnswer {
  return {
    startTime: '2026-11-22T15:00:00.000000000Z',
    endTime: '2026-11-22T15:05:00.000000000Z',
    count: 1,
    clientNamespace: namespace,
    clientNameAggr: aggregated,
    clientLabels: labels,
    qname,
    rcode,
    rrsets: rcode === 'NoError' ? [{ name: qname, type: 'A', rdata: ['192.0.2.1'] }] : [],
  };
}

async function run(answers: ObservedAnswer[], clusterDomains = ['cluster.local']): Promise<{ text: string; result: ReturnType<typeof recommend> }> {
  const builder = new ObservationBuilder();
  for (const item of answers) builder.add(item);
  const result = recommend(builder.observation, { minCount: 1, wildcardMin: 5, clusterDomains, namespaces: [] });
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

  test('a search-list expansion is told by the stem going down the cluster search domains; short names and names asked for themselves stay', async () => {
    const worker = (qname: string, rcode = 'NoError'): ObservedAnswer => answer('shop', 'worker-*', { app: 'worker' }, qname, rcode);
    const { result, text } = await run([
      // api.example.com went down the list until corp.example.org answered: the stem is what was meant.
      worker('api.example.com.shop.svc.cluster.local', 'NXDomain'),
      worker('api.example.com.corp.example.org'),
      // A short name the search domain completes is the name needed.
      worker('intranet.svc.cluster.local', 'NXDomain'),
      worker('intranet.corp.example.org'),
      // example.net went down the list too, but example.net.cdn.example.org was asked for itself: it went down the list as well.
      worker('example.net.cluster.local', 'NXDomain'),
      worker('example.net.cdn.example.org.shop.svc.cluster.local', 'NXDomain'),
      worker('example.net.cdn.example.org'),
      // A Service answered under the cluster domain, so the resolver stopped there: db.example.com is another lookup.
      worker('db.example.com.shop.svc.cluster.local'),
      worker('db.example.com.mirror.example.org'),
    ]);
    const [entry] = result.workloads;
    assert.deepEqual(entry.names, ['api.example.com', 'example.net.cdn.example.org', 'intranet.corp.example.org', 'db.example.com.mirror.example.org']);
    assert.deepEqual(entry.searchDomainAnswers, [{ name: 'api.example.com', asked: 'api.example.com.corp.example.org' }]);
    assert.equal(entry.exclusions.searchListExpansion, 1);
    assert.match(text, /^# resolved only as a search domain answered them, and allowed as the names meant: api\.example\.com \(asked as api\.example\.com\.corp\.example\.org\)\.$/m);
  });

  test('a cluster domain under a public suffix: an expansion of a cluster name is left out, and nothing stands in for it', async () => {
    const worker = (qname: string, rcode = 'NoError'): ObservedAnswer => answer('shop', 'worker-*', { app: 'worker' }, qname, rcode);
    const { result } = await run(
      [worker('db.other.k8s.example.net.shop.svc.k8s.example.net', 'NXDomain'), worker('db.other.k8s.example.net.corp.example.org'), worker('www.example.com')],
      ['k8s.example.net'],
    );
    assert.deepEqual(result.workloads[0].names, ['www.example.com']);
    assert.deepEqual(result.exclusions, { noAddresses: 0, clusterDomain: 1, searchListExpansion: 1, belowMinCount: 0, notExpressible: 0 });
  });

  test('a workload that resolved only cluster names gets DNS only, and the note says what was left out', async () => {
    const { text } = await run([answer('shop', 'cron-*', { app: 'cron' }, 'db.shop.svc.cluster.local'), answer('shop', 'cron-*', { app: 'cron' }, 'gone.example.com', 'NXDomain')]);
    assert.match(text, /^# no name outside the cluster got an address \(1 never answered NOERROR with A\/AAAA \(NXDOMAIN only and such\), 1 under the cluster domain\): only DNS is allowed$/m);
    assert.match(text, /^kind: NetworkPolicy$/m, 'applicable as it is');
  });

  test('log lines: records of type log are read, unlogged records skipped, anything else unreadable', () => {
    assert.equal(parseLogLine('{"start_time":"a","end_time":"b","type":"unlogged","count":3}'), null);
    assert.equal(parseLogLine('not json'), undefined);
    assert.equal(parseLogLine('{"type":"log","qname":1}'), undefined);
  });
});
