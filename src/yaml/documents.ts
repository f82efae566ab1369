/**
 * Kubernetes-style objects from YAML or JSON files: single documents, multi-document
 * streams and `List` kinds, each object carrying a way to name the source position
 * of any of its fields for one-line `file:line:col` errors.
 */
import { Composer, LineCounter, Parser, isMap, isScalar, isSeq, type CST, type Document, type Node as YamlNode, type YAMLMap } from 'yaml';

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

/**
 * Deeper nesting than any Kubernetes object needs; yaml composes nodes recursively and
 * would run out of stack on a hostile file long before memory runs out.
 */
export const MAX_NESTING = 100;

/** Parses every object in `text`; throws SourceError on a YAML syntax error. */
export function parseObjects(file: string, text: string): SourceObject[] {
  const objects: SourceObject[] = [];
  forEachObject(file, text, (object) => objects.push(object));
  return objects;
}

/**
 * Hands each object in `text` to `visit` as its document is read, so that only one
 * document's syntax tree is alive at a time: a source object's `at` is valid only
 * during its visit. Throws SourceError on a YAML syntax error.
 */
export function forEachObject(file: string, text: string, visit: (object: SourceObject) => void): void {
  const lineCounter = new LineCounter();
  const position = (offset: number | undefined): string => {
    const { line, col } = lineCounter.linePos(offset ?? 0);
    return `${file}:${line}:${col}`;
  };
  const parser = new Parser(lineCounter.addNewLine);
  const composer = new Composer({ prettyErrors: false, uniqueKeys: false });
  withPlainEnv(() => {
    for (const doc of composer.compose(boundedTokens(parser.parse(text), position))) visitDocument(doc, position, file, visit);
  });
}

function visitDocument(doc: Document.Parsed, position: (offset: number | undefined) => string, file: string, visit: (object: SourceObject) => void): void {
  if (doc.errors.length > 0) throw new SourceError(position(doc.errors[0].pos[0]), doc.errors[0].message.split('\n')[0]);
  const root = doc.contents;
  // An empty document (as after a trailing `---`) holds a null scalar.
  if (root === null || root === undefined || (isScalar(root) && root.value === null)) return;
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
    visit({ value, file, at: (path = []) => position(nodeAt(node, path).range?.[0]) });
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

/** Passes the parser's tokens on; throws SourceError at a document nested deeper than MAX_NESTING. */
function* boundedTokens(tokens: Iterable<CST.Token>, position: (offset: number) => string): Generator<CST.Token> {
  for (const token of tokens) {
    const tooDeep = token.type === 'document' ? deeperThan(token, MAX_NESTING) : undefined;
    if (tooDeep !== undefined) throw new SourceError(position(tooDeep), `nested deeper than ${MAX_NESTING} levels`);
    yield token;
  }
}

/**
 * Throws SourceError when a document of `text` nests deeper than MAX_NESTING, for
 * readers that compose YAML themselves (the config file); `position` names an offset.
 */
export function checkNesting(text: string, position: (offset: number) => string): void {
  withPlainEnv(() => {
    for (const token of boundedTokens(new Parser().parse(text), position)) void token;
  });
}

/** The offset of the first collection nested deeper than `limit` in `document`, if any; iterative, for any depth. */
function deeperThan(document: CST.Document, limit: number): number | undefined {
  const stack: { token: CST.Token; depth: number }[] = [];
  if (document.value) stack.push({ token: document.value, depth: 0 });
  while (stack.length > 0) {
    const { token, depth } = stack.pop() as { token: CST.Token; depth: number };
    if (token.type !== 'block-map' && token.type !== 'block-seq' && token.type !== 'flow-collection') continue;
    if (depth >= limit) return token.offset;
    for (const item of token.items as CST.CollectionItem[]) {
      if (item.key) stack.push({ token: item.key, depth: depth + 1 });
      if (item.value) stack.push({ token: item.value, depth: depth + 1 });
    }
  }
  return undefined;
}

/**
 * yaml's parser reads process.env.LOG_TOKENS for every token, and each read of
 * process.env asks the C++ side for a copy: on a 50 MB file that is seconds. A plain
 * copy answers the same while the (synchronous) parse runs.
 */
function withPlainEnv(run: () => void): void {
  const env = process.env;
  process.env = { ...env };
  try {
    run();
  } finally {
    process.env = env;
  }
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
