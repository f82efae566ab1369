/**
 * Recommended policies as Calico YAML: a header saying what they were built from, then
 * per workload a NetworkPolicy (or StagedNetworkPolicy) with the DNS carve-out and one
 * Allow rule for the names, optionally through a NetworkSet. A policy that would break
 * its workload as it stands (no selector picks the workload alone, or every name it
 * resolved with addresses was left out) is written commented out, with the reason.
 */
import { stringify } from 'yaml';
import type { Exclusions, Recommendation, WorkloadRecommendation } from './recommend.js';
import type { Observation } from './workloads.js';

export interface RenderOptions {
  staged: boolean;
  networkSet: boolean;
  minCount: number;
  wildcardMin: number;
}

export interface RenderSource {
  files: readonly string[];
  unreadableLines: number;
  observation: Observation;
}

/** Label that ties a recommended NetworkSet to the rule that selects it. */
export const NETWORK_SET_LABEL = 'dnsgate.io/egress-domains';
const MAX_NAME = 200;

/** As CoreDNS runs in every cluster: UDP and TCP 53 to the kube-dns pods of kube-system. */
function dnsCarveOut(): Record<string, unknown>[] {
  return ['UDP', 'TCP'].map((protocol) => ({
    action: 'Allow',
    protocol,
    destination: {
      selector: 'k8s-app == "kube-dns"',
      namespaceSelector: 'projectcalico.org/name == "kube-system"',
      ports: [53],
    },
  }));
}

/** `web` from `web-7d9c8b7f4-*` (the ReplicaSet's hash dropped), as a resource name. */
function baseName(recommendation: WorkloadRecommendation): string {
  const { workload } = recommendation;
  let name = workload.aggregatedName.replace(/-?\*$/, '');
  const hash = workload.commonLabels?.['pod-template-hash'];
  if (hash !== undefined && name.endsWith(`-${hash}`)) name = name.slice(0, -hash.length - 1);
  name = name
    .toLowerCase()
    .replace(/[^a-z0-9-.]+/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '')
    .slice(0, MAX_NAME);
  return name === '' ? 'workload' : name;
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

function comment(lines: readonly string[]): string {
  return lines.map((line) => (line === '' ? '#' : `# ${line}`)).join('\n');
}

/** Each reason for leaving a name out, as the comments word it. */
const EXCLUSION_WORDS: readonly (readonly [keyof Exclusions, string])[] = [
  ['noAddresses', 'never answered NOERROR with A/AAAA (NXDOMAIN only and such)'],
  ['clusterDomain', 'under the cluster domain'],
  ['searchListExpansion', 'search-list expansions'],
  ['belowMinCount', 'below --min-count'],
  ['notExpressible', 'not expressible as a domain pattern'],
];

/** `2 under the cluster domain, 1 below --min-count`: every reason, or only those that left a name out. */
function exclusionText(exclusions: Exclusions, onlyCounted: boolean): string {
  return EXCLUSION_WORDS.filter(([key]) => !onlyCounted || exclusions[key] > 0)
    .map(([key, words]) => `${exclusions[key]} ${words}`)
    .join(', ');
}

function headerLines(recommendation: Recommendation, source: RenderSource, options: RenderOptions): string[] {
  const { observation } = source;
  const excluded: Exclusions = recommendation.exclusions;
  const namespaces = new Set(recommendation.workloads.map((entry) => entry.workload.namespace));
  const lines = [
    'Egress policies recommended by `dnsgate recommend` from DNS logs. Review before applying.',
    `files: ${source.files.join(', ')}`,
    `time range: ${observation.firstTime ?? '-'} to ${observation.lastTime ?? '-'}`,
    `read: ${plural(observation.records, 'log record')} (${plural(observation.answers, 'answer')}); ${plural(recommendation.workloads.length, 'workload')} in ${plural(namespaces.size, 'namespace')}`,
    `options: --min-count ${options.minCount} --wildcard-min ${options.wildcardMin}${options.staged ? ' --staged' : ''}${options.networkSet ? ' --network-set' : ''}`,
    `left out (workload, name) pairs: ${exclusionText(excluded, false)}`,
  ];
  if (observation.unknownClientRecords > 0) lines.push(`left out: ${plural(observation.unknownClientRecords, 'record')} of clients that are no known pod`);
  if (recommendation.otherNamespaceRecords > 0) lines.push(`left out: ${plural(recommendation.otherNamespaceRecords, 'record')} of other namespaces`);
  if (source.unreadableLines > 0) lines.push(`left out: ${plural(source.unreadableLines, 'unreadable line')} (no DNS log record)`);
  lines.push(
    'Each policy makes its workload\'s egress default-deny: it allows DNS to kube-dns and the names below, nothing',
    'else. Add rules for in-cluster destinations the workload talks to, then apply the reviewed file staged',
    'first (dnsgate stage FILE), which enforces nothing.',
  );
  return lines;
}

interface WorkloadText {
  notes: string[];
  documents: Record<string, unknown>[];
  /** Why the policy would break its workload as it stands, with what to do; none when it would not. */
  notApplicable: string[];
}

/** What the comments say about a workload, and why its policy may not be applicable as it stands. */
function workloadNotes(entry: WorkloadRecommendation): Pick<WorkloadText, 'notes' | 'notApplicable'> {
  const { workload, patterns, names, exclusions, searchDomainAnswers } = entry;
  const wildcards = patterns.filter((pattern) => pattern.startsWith('*.'));
  const notes = [
    `${workload.namespace}/${workload.aggregatedName}: ${plural(workload.answers, 'answer')} in ${plural(workload.records, 'record')}; ${plural(names.length, 'name')} kept` +
      (wildcards.length > 0 ? `, as ${plural(patterns.length - wildcards.length, 'exact name')} and ${plural(wildcards.length, 'wildcard')}` : ''),
  ];
  const leftOut = exclusionText(exclusions, true);
  if (leftOut !== '') notes.push(`left out: ${leftOut}`);
  if (searchDomainAnswers.length > 0) {
    notes.push(
      `resolved only as a search domain answered them, and allowed as the names meant: ${searchDomainAnswers.map(({ name, asked }) => `${name} (asked as ${asked})`).join(', ')}.`,
      'Its resolver asks these names only once the longer ones get NXDOMAIN: enforce with --deny-response nxdomain.',
    );
  }
  const reasons: string[] = [];
  const remedies: string[] = [];
  if (!entry.selector.ok) {
    reasons.push(`no selector picks only this workload: ${entry.selector.reason}`);
    remedies.push('write a selector for it');
  }
  if (names.length === 0) {
    const withAddresses = exclusions.belowMinCount + exclusions.notExpressible;
    if (withAddresses > 0) {
      reasons.push(`it would allow DNS only, though ${plural(withAddresses, 'name')} it resolved with addresses ${withAddresses === 1 ? 'was' : 'were'} left out`);
      remedies.push('lower --min-count or allow the names it needs');
    } else {
      notes.push(`no name outside the cluster got an address${leftOut === '' ? '' : ` (${leftOut})`}: only DNS is allowed`);
    }
  }
  if (reasons.length === 0) return { notes, notApplicable: [] };
  const remedy = remedies.join(', ');
  const notApplicable = [...reasons.map((reason) => `NOT APPLICABLE AS IS: ${reason}.`), `${remedy[0].toUpperCase()}${remedy.slice(1)}, and remove the leading "# ":`];
  return { notes, notApplicable };
}

function workloadDocuments(entry: WorkloadRecommendation, name: string, options: RenderOptions): WorkloadText {
  const { workload, patterns } = entry;
  const egress: Record<string, unknown>[] = dnsCarveOut();
  const documents: Record<string, unknown>[] = [];
  if (patterns.length > 0) {
    if (options.networkSet) {
      const setName = `${name}-domains`;
      documents.push({
        apiVersion: 'projectcalico.org/v3',
        kind: 'NetworkSet',
        metadata: { name: setName, namespace: workload.namespace, labels: { [NETWORK_SET_LABEL]: setName } },
        spec: { allowedEgressDomains: [...patterns] },
      });
      egress.push({ action: 'Allow', destination: { selector: `${NETWORK_SET_LABEL} == '${setName}'` } });
    } else {
      egress.push({ action: 'Allow', destination: { domains: [...patterns] } });
    }
  }
  const selector = entry.selector.ok ? entry.selector.selector : 'all()';
  documents.push({
    apiVersion: 'projectcalico.org/v3',
    kind: options.staged ? 'StagedNetworkPolicy' : 'NetworkPolicy',
    metadata: { name, namespace: workload.namespace },
    spec: { ...(options.staged ? { stagedAction: 'Set' } : {}), selector, types: ['Egress'], egress },
  });
  return { ...workloadNotes(entry), documents };
}

/** The YAML text: every document valid Calico, each preceded by comments. */
export function renderRecommendation(recommendation: Recommendation, source: RenderSource, options: RenderOptions): string {
  const parts = [comment(headerLines(recommendation, source, options))];
  const taken = new Set<string>();
  for (const entry of recommendation.workloads) {
    const base = `${baseName(entry)}-egress`;
    let name = base;
    for (let n = 2; taken.has(`${entry.workload.namespace}/${name}`); n++) name = `${base}-${n}`;
    taken.add(`${entry.workload.namespace}/${name}`);
    const { notes, documents, notApplicable } = workloadDocuments(entry, name, options);
    const yaml = documents.map((document) => stringify(document, { lineWidth: 0 }).trimEnd()).join('\n---\n');
    // Written out for the reader to finish when not applicable as it stands.
    if (notApplicable.length === 0) parts.push(`---\n${comment(notes)}\n${yaml}`);
    else parts.push(`---\n${comment([...notes, ...notApplicable])}\n${comment(yaml.split('\n'))}`);
  }
  return `${parts.join('\n')}\n`;
}
