/**
 * Observed names to domain patterns: K or more distinct labels directly under one parent
 * become `*.parent` (Calico's `*` stands for one or more labels, so the wildcard also
 * covers what lies deeper). Parents are tried from the deepest up, so a collapsed
 * wildcard counts as one child of the parent above it.
 */
import { isPublicSuffix } from './public-suffix.js';

export interface CollapseOptions {
  /** Distinct child labels a parent needs before its children become `*.parent`. */
  wildcardMin: number;
  /** Names the wildcard must not cover (resolved only by other workloads). */
  mustNotCover: (parent: string) => boolean;
}

function labelCount(name: string): number {
  return name.split('.').length;
}

/** The part of `pattern` a parent is compared with: the name, or what follows `*.`. */
function baseOf(pattern: string): string {
  return pattern.startsWith('*.') ? pattern.slice(2) : pattern;
}

/** The label of `base` just left of `parent`, when `base` lies strictly under it. */
function childLabel(base: string, parent: string): string | undefined {
  if (!base.endsWith(`.${parent}`)) return undefined;
  const rest = base.slice(0, -parent.length - 1);
  return rest.slice(rest.lastIndexOf('.') + 1);
}

/** Sorted: exact names and wildcards, each name covered once. */
export function collapseNames(names: Iterable<string>, options: CollapseOptions): string[] {
  let patterns = new Set(names);
  const deepest = Math.max(0, ...[...patterns].map(labelCount));
  for (let depth = deepest - 1; depth >= 2; depth--) {
    const children = new Map<string, Set<string>>();
    for (const pattern of patterns) {
      const labels = baseOf(pattern).split('.');
      if (labels.length <= depth) continue;
      const parent = labels.slice(labels.length - depth).join('.');
      const child = labels[labels.length - depth - 1];
      const set = children.get(parent);
      if (set) set.add(child);
      else children.set(parent, new Set([child]));
    }
    for (const [parent, labels] of children) {
      if (labels.size < options.wildcardMin || isPublicSuffix(parent) || options.mustNotCover(parent)) continue;
      const next = new Set<string>();
      for (const pattern of patterns) if (childLabel(baseOf(pattern), parent) === undefined) next.add(pattern);
      next.add(`*.${parent}`);
      patterns = next;
    }
  }
  return [...patterns].sort(compareDomains);
}

/** By the reversed labels, so names under one parent stay together. */
export function compareDomains(a: string, b: string): number {
  const left = a.split('.').reverse().join('.');
  const right = b.split('.').reverse().join('.');
  return left < right ? -1 : left > right ? 1 : 0;
}
