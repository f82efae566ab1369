/**
 * An index over many domain patterns: a trie over the reversed labels of each pattern.
 *
 * A pattern has at most one `*`, so it splits into an exact suffix (walked from the end
 * of the name through `children`) and an exact prefix (the labels before the `*`). A
 * node's `wildcard` holds a second trie over those prefixes, walked from the start of
 * the name; the `*` takes whatever lies between, which must be at least one label. A
 * lookup is one walk over the name's labels, plus a prefix walk at each node of that walk
 * that has wildcard patterns.
 */
import { checkDomainPattern, normalizeQueryName } from './domain-pattern.js';

/** Most nodes are leaves or lie on one pattern's path: their map and list are made when first needed. */
class TrieNode<T> {
  private children: Map<string, TrieNode<T>> | undefined;
  values: T[] | undefined;
  /** Patterns whose `*` comes next, keyed by the labels before it. */
  wildcard: TrieNode<T> | undefined;

  get(label: string): TrieNode<T> | undefined {
    return this.children?.get(label);
  }

  child(label: string): TrieNode<T> {
    let node = this.children?.get(label);
    if (!node) {
      node = new TrieNode<T>();
      (this.children ??= new Map()).set(label, node);
    }
    return node;
  }
}

export class DomainIndex<T> {
  private readonly root = new TrieNode<T>();
  private count = 0;

  /** Number of (pattern, value) pairs added. */
  get size(): number {
    return this.count;
  }

  /** Attaches `value` to `pattern`; throws on a pattern Calico would reject. */
  add(pattern: string, value: T): void {
    const check = checkDomainPattern(pattern);
    if (!check.ok) throw new TypeError(`invalid domain pattern ${JSON.stringify(pattern)}: ${check.reason}`);
    const labels = check.pattern.split('.');
    const star = labels.indexOf('*');
    let node = this.root;
    for (let i = labels.length - 1; i > star; i--) node = node.child(labels[i]);
    if (star >= 0) {
      node.wildcard ??= new TrieNode<T>();
      node = node.wildcard;
      for (let i = 0; i < star; i++) node = node.child(labels[i]);
    }
    (node.values ??= []).push(value);
    this.count++;
  }

  /** The values of every pattern matching `name` (any case, trailing dot ignored). */
  lookup(name: string): readonly T[] {
    // Labels are sliced off the end one by one rather than split all at once: a lookup
    // usually ends after a few labels, and split is the costliest part of it.
    const text = normalizeQueryName(name);
    let found: T[] | undefined;
    let node = this.root;
    let end = text.length;
    for (;;) {
      // text[0, end) is not consumed yet and holds at least one label.
      if (node.wildcard) found = collectWildcard(node.wildcard, text, end, found);
      const dot = text.lastIndexOf('.', end - 1);
      const child = node.get(text.slice(dot + 1, end));
      if (!child) return found ?? NONE;
      node = child;
      if (dot < 0) break;
      end = dot;
    }
    if (node.values === undefined) return found ?? NONE;
    return found ? found.concat(node.values) : node.values.slice();
  }
}

const NONE: readonly never[] = Object.freeze([]);

/**
 * Walks the prefixes below a `*` over the labels of text[0, end). The `*` needs at least
 * one label, so a prefix may not take the last of them.
 */
function collectWildcard<T>(start: TrieNode<T>, text: string, end: number, found: T[] | undefined): T[] | undefined {
  let node: TrieNode<T> | undefined = start;
  if (node.values !== undefined) found = (found ?? []).concat(node.values);
  for (let position = 0; ; ) {
    const dot = text.indexOf('.', position);
    if (dot < 0 || dot >= end) return found;
    node = node.get(text.slice(position, dot));
    if (!node) return found;
    if (node.values !== undefined) found = (found ?? []).concat(node.values);
    position = dot + 1;
  }
}
