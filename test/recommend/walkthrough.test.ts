/**
 * The README's adoption walkthrough runs as written. The shell lines of steps 2 to 6 run
 * with `sh` in a scratch directory, `dnsgate` being this build's CLI, on a DNS log in
 * the schema dnsgate writes; the README's /var/log/dnsgate and /etc/dnsgate/policies are
 * pointed at scratch directories, `kubectl` is replaced by the pods file it would print,
 * and `curl` (step 5, which needs a running dnsgate) is left out: recommend.test.ts and
 * dataplane/staged-audit.test.ts run what steps 1 and 5 do. Every `dnsgate` line is also
 * checked against that command's --help.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, type YAMLSeq } from 'yaml';
import { podsYaml, type TestPod } from '../helpers/cluster.js';
import { CLI } from '../helpers/dnsgate.js';

const README = fileURLToPath(new URL('../../../README.md', import.meta.url));
const LOG_DIR = '/var/log/dnsgate';
const POLICY_DIR = '/etc/dnsgate/policies';

/** The shell lines of each numbered step of the walkthrough. */
function walkthroughSteps(): Map<number, string[]> {
  const text = readFileSync(README, 'utf8');
  const start = text.indexOf('## Adopting default-deny');
  assert.ok(start >= 0, 'the README has the walkthrough');
  const section = text.slice(start, text.indexOf('\n## ', start + 1));
  const steps = new Map<number, string[]>();
  for (const part of section.split(/^(?=\d\. \*\*)/m).slice(1)) {
    const blocks = [...part.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1]);
    steps.set(Number(part[0]), blocks.flatMap((block) => block.split('\n').map((line) => line.trim()).filter((line) => line !== '')));
  }
  return steps;
}

const web = (suffix: string, ip: string): TestPod => ({
  name: `web-7d9c8b7f4-${suffix}`,
  namespace: 'shop',
  ip,
  generateName: 'web-7d9c8b7f4-',
  labels: { app: 'web', 'pod-template-hash': '7d9c8b7f4' },
});
/** 10.244.1.11 is the pod the README's explain lines ask about. */
const PODS = [web('aaaaa', '10.244.1.11'), web('bbbbb', '10.244.1.12'), { name: 'billing-5f6d7c8b9-ccccc', namespace: 'shop', ip: '10.244.1.13', generateName: 'billing-5f6d7c8b9-', labels: { app: 'billing', 'pod-template-hash': '5f6d7c8b9' } }];

/** A record as dnsgate writes it (aggregation 1), of `count` answers with one address. */
function logRecord(aggregatedName: string, labels: Record<string, string>, qname: string, address: string, count: number): string {
  return JSON.stringify({
    start_time: '2026-12-01T07:20:00.015153879Z',
    end_time: '2026-12-01T07:25:00.761733746Z',
    type: 'log',
    count,
    client_name: '-',
    client_name_aggr: aggregatedName,
    client_namespace: 'shop',
    client_ip: null,
    client_labels: labels,
    servers: [{ name: 'coredns-565d847f94-gk6tn', name_aggr: 'coredns-565d847f94-*', namespace: 'kube-system', ip: '10.244.0.5', labels: { 'k8s-app': 'kube-dns' } }],
    qname,
    qclass: 'IN',
    qtype: 'A',
    rcode: 'NoError',
    rrsets: [{ name: qname, class: 'IN', type: 'A', rdata: [address] }],
    latency: { count, mean: 1200000, max: 2500000 },
    latency_count: count,
    latency_mean: 1200000,
    latency_max: 2500000,
    host: 'node-1',
  });
}

const LOG = [
  logRecord('web-7d9c8b7f4-*', { app: 'web', 'pod-template-hash': '7d9c8b7f4' }, 'api.stripe.com', '198.51.100.10', 12),
  logRecord('web-7d9c8b7f4-*', { app: 'web', 'pod-template-hash': '7d9c8b7f4' }, 'checkout.stripe.com', '198.51.100.11', 3),
  logRecord('billing-5f6d7c8b9-*', { app: 'billing', 'pod-template-hash': '5f6d7c8b9' }, 'api.paypal.com', '198.51.100.20', 4),
].join('\n');

/** The rule a reviewer adds: the web pods talk to the database. */
const REVIEW_RULE = { action: 'Allow', protocol: 'TCP', destination: { selector: "app == 'db'", ports: [5432] } };

interface Resource {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec: Record<string, unknown>;
}

function resources(text: string): Resource[] {
  return parseAllDocuments(text)
    .map((doc) => doc.toJS() as Resource | null)
    .filter((doc): doc is Resource => doc !== null);
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('the adoption walkthrough of the README', () => {
  const steps = walkthroughSteps();
  let dir: string;
  let work: string;
  let logDir: string;
  let policyDir: string;
  let bin: string;

  /** A line of the README, as a user would type it, here. */
  function sh(line: string): Promise<Run> {
    const command = line.replaceAll(LOG_DIR, logDir).replaceAll(POLICY_DIR, policyDir);
    return new Promise((resolve) => {
      execFile('sh', ['-c', command], { cwd: work, env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` } }, (error, stdout, stderr) => {
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
    });
  }

  /** Runs the step's lines in order, each expected to succeed; `kubectl` and `curl` lines are left out (see the top). */
  async function runStep(number: number): Promise<Run[]> {
    const lines = (steps.get(number) ?? []).filter((line) => !line.startsWith('kubectl ') && !line.startsWith('curl '));
    assert.ok(lines.length > 0, `step ${number} has commands`);
    const runs: Run[] = [];
    for (const line of lines) {
      const run = await sh(line);
      assert.equal(run.code, 0, `step ${number}: ${line}\n${run.stdout}${run.stderr}`);
      runs.push(run);
    }
    return runs;
  }

  async function dnsgate(...args: string[]): Promise<Run> {
    return sh(['dnsgate', ...args.map((arg) => `'${arg}'`)].join(' '));
  }

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'dnsgate-walkthrough-'));
    work = join(dir, 'work');
    logDir = join(dir, 'log');
    policyDir = join(dir, 'policies');
    bin = join(dir, 'bin');
    for (const path of [work, logDir, policyDir, bin]) mkdirSync(path);
    writeFileSync(join(bin, 'dnsgate'), `#!/bin/sh\nexec '${process.execPath}' '${CLI}' "$@"\n`);
    chmodSync(join(bin, 'dnsgate'), 0o755);
    // What step 1 leaves: dnsgate's log, and kubectl's view of the pods.
    writeFileSync(join(logDir, 'dns.log'), `${LOG}\n`);
    writeFileSync(join(work, 'pods.yaml'), podsYaml(PODS));
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('every dnsgate command of the walkthrough exists with the flags it is given', () => {
    assert.deepEqual([...steps.keys()], [1, 2, 3, 4, 5, 6]);
    const commands = [...steps.values()].flat().flatMap((line) => line.split(/&&|\|/).map((part) => part.trim()).filter((part) => part.startsWith('dnsgate ')));
    assert.deepEqual([...new Set(commands.map((line) => line.split(/\s+/)[1]))].sort(), ['explain', 'recommend', 'serve', 'stage', 'validate']);
    const help = new Map<string, string>();
    for (const line of commands) {
      const command = line.split(/\s+/)[1];
      if (!help.has(command)) help.set(command, execFileSync(process.execPath, [CLI, command, '--help'], { encoding: 'utf8' }));
      for (const flag of line.match(/--[a-z][a-z-]*/g) ?? []) assert.match(help.get(command) as string, new RegExp(`${flag}\\b`), `${line}: ${flag}`);
    }
  });

  test('steps 2 to 6 run as written: the reviewed policies are staged, then enforced, with the review kept', async () => {
    // 2. Recommend.
    await runStep(2);
    const recommended = readFileSync(join(work, 'recommended.yaml'), 'utf8');
    assert.deepEqual(
      resources(recommended).map((resource) => [resource.kind, resource.metadata.name]),
      [['NetworkPolicy', 'billing-egress'], ['NetworkPolicy', 'web-egress']],
    );

    // 3. Review: the reader adds a rule for an in-cluster destination, keeping the comments; then the step's checks.
    const docs = parseAllDocuments(recommended);
    const webPolicy = docs.find((doc) => doc.getIn(['metadata', 'name']) === 'web-egress');
    assert.ok(webPolicy);
    (webPolicy.getIn(['spec', 'egress']) as YAMLSeq).add(webPolicy.createNode(REVIEW_RULE));
    const reviewed = docs.map((doc) => doc.toString({ lineWidth: 0 })).join('');
    writeFileSync(join(work, 'recommended.yaml'), reviewed);
    const [validate, explain] = await runStep(3);
    assert.equal(validate.stdout, '', 'the reviewed file is valid');
    assert.match(explain.stdout, /allowed/);

    // 4. Apply as staged: the reviewed file, review included, as staged policies that enforce nothing.
    await runStep(4);
    const staged = readFileSync(join(policyDir, 'staged.yaml'), 'utf8');
    assert.equal((await dnsgate('validate', policyDir)).code, 0);
    const stagedResources = resources(staged);
    assert.deepEqual(
      stagedResources.map((resource) => [resource.kind, resource.spec.stagedAction]),
      [['StagedNetworkPolicy', 'Set'], ['StagedNetworkPolicy', 'Set']],
    );
    // Staged back to enforced: the kind without "Staged", without stagedAction, is the reviewed policy.
    const enforcedForm = stagedResources.map(({ kind, spec: { stagedAction: _, ...spec }, ...rest }) => ({ ...rest, kind: kind.replace(/^Staged/, ''), spec }));
    assert.deepEqual(enforcedForm, resources(reviewed));
    assert.deepEqual((resources(reviewed)[1].spec.egress as unknown[]).at(-1), REVIEW_RULE);
    assert.match(staged, /^# shop\/web-7d9c8b7f4-\*: 15 answers in 2 records; 2 names kept$/m, 'comments kept');
    const whileStaged = JSON.parse((await dnsgate('explain', '--policies', policyDir, '--pods', join(work, 'pods.yaml'), '--client', '10.244.1.11', '--name', 'www.example.com', '--json')).stdout) as {
      allowed: boolean;
      enforced: boolean;
      staged?: { allowed: boolean; enforced: boolean };
    };
    assert.deepEqual([whileStaged.enforced, whileStaged.allowed, whileStaged.staged?.enforced, whileStaged.staged?.allowed], [false, true, true, false], 'staged: nothing enforced yet');

    // 5. Watch, then stage again after another change: the staged file follows the reviewed one.
    writeFileSync(join(work, 'recommended.yaml'), reviewed.replace('- api.stripe.com', '- api.stripe.com\n          - files.stripe.com'));
    await runStep(5);
    assert.match(readFileSync(join(policyDir, 'staged.yaml'), 'utf8'), /^kind: StagedNetworkPolicy\n[\s\S]*- files\.stripe\.com$/m);
    writeFileSync(join(work, 'recommended.yaml'), reviewed);
    await runStep(5);
    assert.equal(readFileSync(join(policyDir, 'staged.yaml'), 'utf8'), staged);

    // 6. Enforce: the reviewed policies in place, the staged ones gone.
    await runStep(6);
    assert.equal(existsSync(join(policyDir, 'staged.yaml')), false);
    assert.equal(readFileSync(join(policyDir, 'recommended.yaml'), 'utf8'), reviewed);
    assert.equal((await dnsgate('validate', policyDir)).code, 0);
    const explainNow = (name: string): Promise<Run> => dnsgate('explain', '--policies', policyDir, '--pods', join(work, 'pods.yaml'), '--client', '10.244.1.11', '--name', name);
    assert.equal((await explainNow('api.stripe.com')).code, 0, 'enforced and allowed');
    assert.equal((await explainNow('www.example.com')).code, 1, 'enforced and not allowed');
  });
});
