/**
 * Kubernetes-style objects from YAML or JSON files: single documents, multi-document
 * streams and `List` kinds, each object carrying a way to name the source position
 * of any of its fields for one-line `file:line:col` errors.
 */
import { LineCounter, isMap, isScalar, isSeq, parseAllDocuments, type Node as YamlNode, type YAMLMap } from 'yaml';

export interface SourceObject {
  /** The plain JS value of the object. */
  value: Record<string, unknown>;
  file: string;
  /** `file:line:col` of the field at `path` (or of the nearest existing ancestor). */
  at(path?: readonly (string | number)[]): string;
}

export class SourceError extends Error {
  constructor(readonly where: string, readonly reason: string) {
    super(`${where}: ${reason}`);
  }
}

/** Parses every object in `text`; throws SourceError on a YAML syntax error. */
export function parseObjects(file: string, text: string): SourceObject[] {
  const lineCounter = new LineCounter();
  const position = (offset: number | undefined): string => {
    const { line, col } = lineCounter.linePos(offset ?? 0);
    return `${file}:${line}:${col}`;
  };
  const objects: SourceObject[] = [];
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    if (doc.errors.length > 0) throw new SourceError(position(doc.errors[0].pos[0]), doc.errors[0].message.split('\n')[0]);
    const root = doc.contents;
    // An empty document (as after a trailing `---`) holds a null scalar.
    if (root === null || root === undefined || (isScalar(root) && root.value === null)) continue;
    if (!isMap(root)) throw new SourceError(position(root.range?.[0]), 'expected an object with apiVersion and kind');
    const add = (node: YAMLMap): void => {
      let value: Record<string, unknown>;
      try {
        // Through the document, so that aliases resolve to what their anchors hold.
        value = node.toJS(doc) as Record<string, unknown>;
      } catch (error) {
        // yaml refuses alias chains that would expand without bound.
        throw new SourceError(position(node.range?.[0]), (error as Error).message);
      }
      objects.push({ value, file, at: (path = []) => position(nodeAt(node, path).range?.[0]) });
    };
    const kind: unknown = root.get('kind');
    const items = root.get('items', true);
    if (typeof kind === 'string' && kind.endsWith('List') && isSeq(items)) {
      for (const item of items.items) {
        if (isMap(item)) add(item);
        else throw new SourceError(position((item as YamlNode | null)?.range?.[0]), 'List item is not an object');
      }
    } else {
      add(root);
    }
  }
  return objects;
}

function nodeAt(node: YamlNode, path: readonly (string | number)[]): YamlNode {
  let current = node;
  for (const key of path) {
    let next: unknown;
    if (isMap(current)) {
      const pair = current.items.find((item) => (item.key as { value?: unknown } | null)?.value === key);
      // Point at the value when it has a position, else at the key.
      next = pair ? ((pair.value as YamlNode | null)?.range ? pair.value : pair.key) : undefined;
    } else if (isSeq(current) && typeof key === 'number') {
      next = current.items[key];
    }
    if (!next || !(next as YamlNode).range) break;
    current = next as YamlNode;
  }
  return current;
}

/** Plain string-to-string map (labels), or undefined when absent or not such a map. */
export function stringMap(value: unknown): Record<string, string> | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const out: Record<string, string> = {};
  for (const [key, item] of Object.entries(value)) out[key] = String(item);
  return out;
}
