/** `dnsgate stage`: reviewed policy files in their staged form, everything else kept as it is. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { loadPolicies } from '../../src/policy/loader.js';
import { stagePolicies } from '../../src/recommend/stage.js';
import { CLI } from '../helpers/dnsgate.js';

const POLICIES = `# reviewed on 2026-12-01
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: web-egress
  namespace: shop
spec:
  selector: app == 'web'
  types: [Egress]
  egress:
    # the database
    - action: Allow
      protocol: TCP
      destination: {selector: app == 'db', ports: [5432]}
---
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata:
  name: web-egress-domains
  namespace: shop
  labels: {dnsgate.io/egress-domains: web-egress-domains}
spec:
  allowedEgressDomains: [api.example.com]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: platform-egress
spec:
  selector: all()
  types: [Egress]
  egress:
    - action: Allow
      destination: {selector: dnsgate.io/egress-domains == 'web-egress-domains'}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: jobs
  namespace: batch
spec:
  podSelector: {matchLabels: {app: jobs}}
  policyTypes: [Egress]
  egress:
    - to: [{ipBlock: {cidr: 192.0.2.0/24}}]
---
# NOT APPLICABLE AS IS: no selector picks only this workload.
# kind: NetworkPolicy
---
apiVersion: projectcalico.org/v3
kind: StagedNetworkPolicy
metadata:
  name: old-egress
  namespace: shop
spec:
  stagedAction: Delete
`;

interface Resource {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: Record<string, unknown>;
}

function resources(text: string): Resource[] {
  return parseAllDocuments(text)
    .map((doc) => doc.toJS() as Resource | null)
    .filter((doc): doc is Resource => doc !== null);
}

describe('stagePolicies', () => {
  test('each policy kind becomes its staged kind with stagedAction Set; other resources, staged ones and comments stay', async () => {
    const staged = stagePolicies(POLICIES);
    assert.deepEqual(
      resources(staged).map((resource) => [resource.apiVersion, resource.kind, resource.metadata.name, resource.spec.stagedAction]),
      [
        ['projectcalico.org/v3', 'StagedNetworkPolicy', 'web-egress', 'Set'],
        ['projectcalico.org/v3', 'NetworkSet', 'web-egress-domains', undefined],
        ['projectcalico.org/v3', 'StagedGlobalNetworkPolicy', 'platform-egress', 'Set'],
        ['projectcalico.org/v3', 'StagedKubernetesNetworkPolicy', 'jobs', 'Set'],
        ['projectcalico.org/v3', 'StagedNetworkPolicy', 'old-egress', 'Delete'],
      ],
    );
    // Apart from kind and stagedAction, every resource is what it was.
    const strip = ({ kind, apiVersion, spec: { stagedAction: _, ...spec }, ...rest }: Resource): unknown => ({ ...rest, spec, kind: kind.replace(/^Staged(Kubernetes)?/, ''), apiVersion: apiVersion === 'networking.k8s.io/v1' ? 'projectcalico.org/v3' : apiVersion });
    assert.deepEqual(resources(staged).slice(0, 4).map(strip), resources(POLICIES).slice(0, 4).map(strip));
    for (const comment of ['# reviewed on 2026-12-01', '    # the database', '# NOT APPLICABLE AS IS: no selector picks only this workload.', '# kind: NetworkPolicy']) {
      assert.ok(staged.split('\n').includes(comment), `${comment} kept:\n${staged}`);
    }
    const load = await loadPolicies([], [{ path: 'staged.yaml', text: staged }]);
    assert.ok(load.ok, JSON.stringify(!load.ok && load.errors));
    assert.deepEqual(load.policies.policies.length, 0, 'nothing enforced');
    assert.deepEqual(load.warnings, []);
  });

  test('JSON and List files are staged too', () => {
    const list = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'projectcalico.org/v3', kind: 'NetworkPolicy', metadata: { name: 'a', namespace: 'shop' }, spec: { selector: 'all()' } }] });
    const [staged] = resources(stagePolicies(list)) as unknown as { items: Resource[] }[];
    assert.deepEqual(staged.items.map((item) => [item.kind, item.spec.stagedAction, item.spec.selector]), [['StagedNetworkPolicy', 'Set', 'all()']]);
  });
});

describe('dnsgate stage', () => {
  let dir: string;
  const cli = (args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile(process.execPath, [CLI, ...args], (error, stdout, stderr) => resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }));
    });

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'dnsgate-stage-'));
    writeFileSync(join(dir, 'a.yaml'), POLICIES);
    writeFileSync(join(dir, 'b.json'), JSON.stringify({ apiVersion: 'projectcalico.org/v3', kind: 'NetworkPolicy', metadata: { name: 'b', namespace: 'shop' }, spec: { selector: 'all()' } }));
    writeFileSync(join(dir, 'bad.yaml'), 'apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: c}\nspec: {selector: "app = web"}\n');
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the files in order, each document its own', async () => {
    const run = await cli(['stage', join(dir, 'a.yaml'), join(dir, 'b.json')]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(resources(run.stdout).map((resource) => `${resource.kind}/${resource.metadata.name}`), [
      'StagedNetworkPolicy/web-egress',
      'NetworkSet/web-egress-domains',
      'StagedGlobalNetworkPolicy/platform-egress',
      'StagedKubernetesNetworkPolicy/jobs',
      'StagedNetworkPolicy/old-egress',
      'StagedNetworkPolicy/b',
    ]);
  });

  test('an invalid file stages nothing: its problems, then one line, exit 2', async () => {
    const run = await cli(['stage', join(dir, 'a.yaml'), join(dir, 'bad.yaml')]);
    assert.equal(run.code, 2);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, new RegExp(`^${join(dir, 'bad.yaml')}:4:\\d+: .*\\ndnsgate: the files: 1 error\\(s\\); nothing staged\\n$`));
    const missing = await cli(['stage', join(dir, 'absent.yaml')]);
    assert.equal(missing.code, 2);
    assert.equal(missing.stderr, `dnsgate: ${join(dir, 'absent.yaml')}: cannot read: ENOENT\n`);
  });
});
