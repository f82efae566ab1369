/**
 * DNS log records grouped into workloads (namespace plus `client_name_aggr`), with the
 * names each resolved and the labels its pods share.
 */
import { normalizeQueryName } from '../policy/domain-pattern.js';
import type { ObservedAnswer } from './log-reader.js';

const STATEFULSET_POD_NAME = 'statefulset.kubernetes.io/pod-name';
/** What the logs call a client that is no known pod. */
const UNKNOWN_NAMESPACE = '-';

export interface NameObservation {
  /** Answers to this name that were NOERROR and carried A or AAAA records for it. */
  addressAnswers: number;
  /** Every answer to this name, whatever its rcode. */
  answers: number;
}

export class Workload {
  /** Labels every record of the workload carried with the same value; undefined when a record had none. */
  commonLabels: Record<string, string> | undefined;
  /** Every value each label had on some record: what the workload's pods may carry. */
  readonly seenLabels = new Map<string, Set<string>>();
  /** Lowercase, without the trailing dot. */
  readonly names = new Map<string, NameObservation>();
  records = 0;
  answers = 0;
  private labelsMissing = false;

  constructor(
    readonly namespace: string,
    /** `client_name_aggr`, with a StatefulSet's ordinal folded: `db-*` for `db-0`, `db-1`. */
    readonly aggregatedName: string,
  ) {}

  add(answer: ObservedAnswer, name: string, carriesAddresses: boolean): void {
    this.records++;
    this.answers += answer.count;
    const labels = answer.clientLabels;
    if (labels === null) {
      this.labelsMissing = true;
      this.commonLabels = undefined;
    } else {
      for (const [key, value] of Object.entries(labels)) {
        const values = this.seenLabels.get(key);
        if (values) values.add(value);
        else this.seenLabels.set(key, new Set([value]));
      }
      if (!this.labelsMissing) {
        if (this.commonLabels === undefined) this.commonLabels = { ...labels };
        else for (const key of Object.keys(this.commonLabels)) if (labels[key] !== this.commonLabels[key]) delete this.commonLabels[key];
      }
    }
    const observation = this.names.get(name) ?? { addressAnswers: 0, answers: 0 };
    observation.answers += answer.count;
    if (carriesAddresses) observation.addressAnswers += answer.count;
    this.names.set(name, observation);
  }
}

/**
 * Whether the answer holds A or AAAA records for the queried name, directly or at the end
 * of the CNAME chain that starts at it.
 */
export function carriesAddresses(answer: ObservedAnswer, qname: string): boolean {
  const chain = new Set([qname]);
  // Each pass follows one more CNAME; a chain cannot be longer than the rrsets.
  for (let pass = 0; pass <= answer.rrsets.length; pass++) {
    const before = chain.size;
    for (const rrset of answer.rrsets) {
      const owner = normalizeQueryName(rrset.name);
      if (!chain.has(owner)) continue;
      if (rrset.type === 'A' || rrset.type === 'AAAA') {
        if (rrset.rdata.length > 0) return true;
      } else if (rrset.type === 'CNAME') {
        for (const target of rrset.rdata) chain.add(normalizeQueryName(target));
      }
    }
    if (chain.size === before) return false;
  }
  return false;
}

/** The workload key of an answer: a StatefulSet's pods (`db-0`, `db-1`) are one workload. */
function workloadName(answer: ObservedAnswer): string {
  const podName = answer.clientLabels?.[STATEFULSET_POD_NAME];
  if (podName === answer.clientNameAggr) {
    const ordinal = /-\d+$/.exec(podName);
    if (ordinal) return `${podName.slice(0, ordinal.index)}-*`;
  }
  return answer.clientNameAggr;
}

export interface Observation {
  workloads: Map<string, Workload>;
  firstTime: string | undefined;
  lastTime: string | undefined;
  records: number;
  answers: number;
  /** Records from clients that are no known pod (no namespace), left out. */
  unknownClientRecords: number;
}

export class ObservationBuilder {
  readonly observation: Observation = {
    workloads: new Map(),
    firstTime: undefined,
    lastTime: undefined,
    records: 0,
    answers: 0,
    unknownClientRecords: 0,
  };

  add(answer: ObservedAnswer): void {
    const observation = this.observation;
    observation.records++;
    observation.answers += answer.count;
    // RFC 3339 times with the same number of fraction digits compare as text.
    if (observation.firstTime === undefined || answer.startTime < observation.firstTime) observation.firstTime = answer.startTime;
    if (observation.lastTime === undefined || answer.endTime > observation.lastTime) observation.lastTime = answer.endTime;
    if (answer.clientNamespace === UNKNOWN_NAMESPACE) {
      observation.unknownClientRecords++;
      return;
    }
    const qname = normalizeQueryName(answer.qname);
    if (qname === '') return;
    const aggregated = workloadName(answer);
    const key = `${answer.clientNamespace}/${aggregated}`;
    let workload = observation.workloads.get(key);
    if (!workload) {
      workload = new Workload(answer.clientNamespace, aggregated);
      observation.workloads.set(key, workload);
    }
    workload.add(answer, qname, answer.rcode === 'NoError' && carriesAddresses(answer, qname));
  }
}
