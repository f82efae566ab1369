/**
 * From grouped observations to one recommended egress policy per workload: which names
 * each workload needs, as exact names and wildcards, and the selector that picks it.
 */
import { checkDomainPattern, isUnderDomain } from '../policy/domain-pattern.js';
import { collapseNames, compareDomains } from './collapse.js';
import { isPublicName } from './public-suffix.js';
import { workloadSelector, type WorkloadSelector } from './selector.js';
import type { Observation, Workload } from './workloads.js';

export interface RecommendOptions {
  /** Answers a name needs, per workload, to be kept. */
  minCount: number;
  wildcardMin: number;
  /** Names under these are cluster-internal; lowercase, without the trailing dot. */
  clusterDomains: readonly string[];
  /**
   * Only workloads of these namespaces get a policy (every namespace when empty); the
   * names other namespaces resolved still keep wildcards off them.
   */
  namespaces: readonly string[];
}

/** Why observed names were left out, counted over (workload, name) pairs. */
export interface Exclusions {
  /** Never answered NOERROR with A or AAAA records (NXDOMAIN only, NODATA only, failures). */
  noAddresses: number;
  clusterDomain: number;
  searchListExpansion: number;
  belowMinCount: number;
  /** Names a Calico domain pattern cannot hold (`_` and other characters). */
  notExpressible: number;
}

/** A name the workload meant, which a search domain answered before it was asked. */
export interface SearchDomainAnswer {
  /** The name meant, which the policy allows. */
  name: string;
  /** The name with the search domain appended, as it was asked and answered. */
  asked: string;
}

export interface WorkloadRecommendation {
  workload: Workload;
  selector: WorkloadSelector;
  /** Sorted; exact names and `*.parent` wildcards. */
  patterns: readonly string[];
  /** The kept names, before collapsing. */
  names: readonly string[];
  /** Why the workload's other names were left out. */
  exclusions: Exclusions;
  /** Kept names the workload resolved only through a search domain that answered first. */
  searchDomainAnswers: readonly SearchDomainAnswer[];
}

export interface Recommendation {
  workloads: WorkloadRecommendation[];
  /** Summed over the workloads recommended for. */
  exclusions: Exclusions;
  /** Records of workloads in namespaces not asked for. */
  otherNamespaceRecords: number;
}

function noExclusions(): Exclusions {
  return { noAddresses: 0, clusterDomain: 0, searchListExpansion: 0, belowMinCount: 0, notExpressible: 0 };
}

/** The search domains a pod's resolver tries first: its namespace's, then the cluster's. */
function clusterSearchDomains(workload: Workload, clusterDomains: readonly string[]): string[] {
  return clusterDomains.flatMap((domain) => [`${workload.namespace}.svc.${domain}`, `svc.${domain}`, domain]);
}

/**
 * The name the workload meant when it asked `name`, if `name` is that stem with a search
 * domain appended. A resolver goes down its search list and stops at the first NOERROR,
 * so when a search domain answers every name (`*.corp.example.org`), the stem itself is
 * never asked; what shows is that the stem went down the list: it was asked under a
 * cluster search domain (`STEM.<ns>.svc.<cd>`, `STEM.svc.<cd>`, `STEM.<cd>`) and got no
 * address there, or it was asked itself. `name` is no expansion when it went down the
 * list itself (as a name the application asks does under `ndots:5`), nor when the stem is
 * a short name (`intranet`): completing those is what search domains are for, and
 * `intranet.corp.example.org` is the name needed.
 */
function searchStem(name: string, workload: Workload, searchDomains: readonly string[]): string | undefined {
  const { names } = workload;
  if (searchDomains.some((domain) => names.has(`${name}.${domain}`))) return undefined;
  const wentDownTheList = (stem: string): boolean =>
    names.has(stem) ||
    searchDomains.some((domain) => {
      const seen = names.get(`${stem}.${domain}`);
      return seen !== undefined && seen.answers > seen.addressAnswers;
    });
  for (let dot = name.indexOf('.'); dot > 0; dot = name.indexOf('.', dot + 1)) {
    const stem = name.slice(0, dot);
    if (isPublicName(stem) && wentDownTheList(stem)) return stem;
  }
  return undefined;
}

interface KeptNames {
  names: string[];
  exclusions: Exclusions;
  searchDomainAnswers: SearchDomainAnswer[];
}

/**
 * The names a workload needs. A search-list expansion is left out; when it was answered
 * with addresses, the name meant stands in for it, with its answers.
 */
function keptNames(workload: Workload, options: RecommendOptions): KeptNames {
  const exclusions = noExclusions();
  const searchDomains = clusterSearchDomains(workload, options.clusterDomains);
  const addressAnswers = new Map<string, number>();
  const meant = new Map<string, string>();
  for (const [name, seen] of workload.names) {
    if (isUnderDomain(name, options.clusterDomains)) {
      exclusions.clusterDomain++;
      continue;
    }
    const stem = searchStem(name, workload, searchDomains);
    if (stem === undefined) {
      addressAnswers.set(name, (addressAnswers.get(name) ?? 0) + seen.addressAnswers);
      continue;
    }
    exclusions.searchListExpansion++;
    // A name of the cluster needs no domain rule, whatever it was expanded to.
    if (seen.addressAnswers === 0 || isUnderDomain(stem, options.clusterDomains)) continue;
    addressAnswers.set(stem, (addressAnswers.get(stem) ?? 0) + seen.addressAnswers);
    if (!meant.has(stem) && (workload.names.get(stem)?.addressAnswers ?? 0) === 0) meant.set(stem, name);
  }
  const names: string[] = [];
  for (const [name, count] of addressAnswers) {
    if (count === 0) exclusions.noAddresses++;
    else if (count < options.minCount) exclusions.belowMinCount++;
    else if (!checkDomainPattern(name).ok) exclusions.notExpressible++;
    else names.push(name);
  }
  names.sort(compareDomains);
  const searchDomainAnswers = names.flatMap((name) => {
    const asked = meant.get(name);
    return asked === undefined ? [] : [{ name, asked }];
  });
  return { names, exclusions, searchDomainAnswers };
}

function addExclusions(into: Exclusions, more: Exclusions): void {
  for (const key of Object.keys(into) as (keyof Exclusions)[]) into[key] += more[key];
}

function compareWorkloads(a: Workload, b: Workload): number {
  if (a.namespace !== b.namespace) return a.namespace < b.namespace ? -1 : 1;
  return a.aggregatedName < b.aggregatedName ? -1 : a.aggregatedName > b.aggregatedName ? 1 : 0;
}

export function recommend(observation: Observation, options: RecommendOptions): Recommendation {
  const all = [...observation.workloads.values()].sort(compareWorkloads);
  const kept = new Map(all.map((workload) => [workload, keptNames(workload, options)]));
  // Which workloads, of every namespace, need each name: a wildcard stays off names only others resolved.
  const needers = new Map<string, Set<Workload>>();
  for (const [workload, { names }] of kept) {
    for (const name of names) {
      const set = needers.get(name);
      if (set) set.add(workload);
      else needers.set(name, new Set([workload]));
    }
  }
  const wanted = (workload: Workload): boolean => options.namespaces.length === 0 || options.namespaces.includes(workload.namespace);
  const exclusions = noExclusions();
  let otherNamespaceRecords = 0;
  const workloads: WorkloadRecommendation[] = [];
  for (const workload of all) {
    if (!wanted(workload)) {
      otherNamespaceRecords += workload.records;
      continue;
    }
    const own = kept.get(workload) as KeptNames;
    addExclusions(exclusions, own.exclusions);
    const mustNotCover = (parent: string): boolean => {
      for (const [name, set] of needers) if (!set.has(workload) && name.endsWith(`.${parent}`)) return true;
      return false;
    };
    workloads.push({
      workload,
      selector: workloadSelector(workload, all.filter((other) => other.namespace === workload.namespace)),
      names: own.names,
      patterns: collapseNames(own.names, { wildcardMin: options.wildcardMin, mustNotCover }),
      exclusions: own.exclusions,
      searchDomainAnswers: own.searchDomainAnswers,
    });
  }
  return { workloads, exclusions, otherNamespaceRecords };
}
