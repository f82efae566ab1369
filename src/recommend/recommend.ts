/**
 * From grouped observations to one recommended egress policy per workload: which names
 * each workload needs, as exact names and wildcards, and the selector that picks it.
 */
import { checkDomainPattern, isUnderDomain } from '../policy/domain-pattern.js';
import { collapseNames, compareDomains } from './collapse.js';
import { workloadSelector, type WorkloadSelector } from './selector.js';
import type { Observation, Workload } from './workloads.js';

export interface RecommendOptions {
  /** Answers a name needs, per workload, to be kept. */
  minCount: number;
  wildcardMin: number;
  /** Names under these are cluster-internal; lowercase, without the trailing dot. */
  clusterDomains: readonly string[];
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

export interface WorkloadRecommendation {
  workload: Workload;
  selector: WorkloadSelector;
  /** Sorted; exact names and `*.parent` wildcards. */
  patterns: readonly string[];
  /** The kept names, before collapsing. */
  names: readonly string[];
}

export interface Recommendation {
  workloads: WorkloadRecommendation[];
  exclusions: Exclusions;
}

/**
 * The resolver's default `ndots:5`: a name with fewer dots is first tried with each
 * search domain appended, so `NAME.SUFFIX` is a search-list expansion of `NAME` when
 * the workload asked for `NAME` too.
 */
const NDOTS = 5;

/** Whether `name` is another queried name with a search domain appended. */
function isSearchExpansion(name: string, queried: ReadonlyMap<string, unknown>): boolean {
  for (let dot = name.indexOf('.'); dot > 0; dot = name.indexOf('.', dot + 1)) {
    const stem = name.slice(0, dot);
    if (queried.has(stem) && stem.split('.').length - 1 < NDOTS) return true;
  }
  return false;
}

function keptNames(workload: Workload, options: RecommendOptions, exclusions: Exclusions): string[] {
  const kept: string[] = [];
  for (const [name, seen] of workload.names) {
    if (isUnderDomain(name, options.clusterDomains)) exclusions.clusterDomain++;
    else if (isSearchExpansion(name, workload.names)) exclusions.searchListExpansion++;
    else if (seen.addressAnswers === 0) exclusions.noAddresses++;
    else if (seen.addressAnswers < options.minCount) exclusions.belowMinCount++;
    else if (!checkDomainPattern(name).ok) exclusions.notExpressible++;
    else kept.push(name);
  }
  return kept.sort(compareDomains);
}

export function recommend(observation: Observation, options: RecommendOptions): Recommendation {
  const exclusions: Exclusions = { noAddresses: 0, clusterDomain: 0, searchListExpansion: 0, belowMinCount: 0, notExpressible: 0 };
  const workloads = [...observation.workloads.values()].sort((a, b) => (a.namespace === b.namespace ? (a.aggregatedName < b.aggregatedName ? -1 : 1) : a.namespace < b.namespace ? -1 : 1));
  const names = new Map(workloads.map((workload) => [workload, keptNames(workload, options, exclusions)]));
  // Which workloads need each name, to keep a wildcard off names only others resolved.
  const needers = new Map<string, Set<Workload>>();
  for (const [workload, list] of names) {
    for (const name of list) {
      const set = needers.get(name);
      if (set) set.add(workload);
      else needers.set(name, new Set([workload]));
    }
  }
  return {
    exclusions,
    workloads: workloads.map((workload) => {
      const own = names.get(workload) as string[];
      const mustNotCover = (parent: string): boolean => {
        for (const [name, set] of needers) if (!set.has(workload) && name.endsWith(`.${parent}`)) return true;
        return false;
      };
      const sameNamespace = workloads.filter((other) => other.namespace === workload.namespace);
      return {
        workload,
        selector: workloadSelector(workload, sameNamespace),
        names: own,
        patterns: collapseNames(own, { wildcardMin: options.wildcardMin, mustNotCover }),
      };
    }),
  };
}
