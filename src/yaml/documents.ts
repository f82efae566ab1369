/**
 * Kubernetes-style objects from YAML or JSON files: single documents, multi-document
 * streams and `List` kinds, each object carrying a way to name the source position
 * of any of its fields for one-line `file:line:col` errors.
 */
import { Composer, LineCounter, Parser, isMap, isScalar, isSeq, type CST, type Document, type Node as YamlNode, type YAMLMap } from 'yaml';
import { ownStrings } from '../util/own-strings.js';
import { childAt, offsetAt, plainDocumentValue, sequenceItems, type FieldPath } from './cst-values.js';

export type { FieldPath };

/** 1-based, as editors count. */
export interface SourcePosition {
  file: string;
  line: number;
  col: number;
}

export function formatPosition(position: SourcePosition): string {
  return `${position.file}:${position.line}:${position.col}`;
}

export interface SourceObject {
  /** The plain JS value of the object. */
  value: Record<string, unknown>;
  file: string;
  /** `file:line:col` of the field at `path` (or of the nearest existing ancestor). */
  at(path?: FieldPath): string;
}

/** An object read from a file's text, whose fields have lines and columns. */
export interface ParsedObject extends SourceObject {
  /** Where the field at `path` (or the nearest existing ancestor) starts. */
  position(path?: FieldPath): SourcePosition;
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
export function parseObjects(file: string, text: string): ParsedObject[] {
  const objects: ParsedObject[] = [];
  forEachObject(file, text, (object) => objects.push(object));
  return objects;
}

/** Offsets into one file's text, turned into lines and columns only when asked. */
class SourceText {
  readonly lines = new LineCounter();

  constructor(readonly file: string) {}

  position(offset: number): SourcePosition {
    const { line, col } = this.lines.linePos(offset);
    return { file: this.file, line, col };
  }

  where(offset: number | undefined): string {
    return formatPosition(this.position(offset ?? 0));
  }
}

/** One object of a document; `offsetOf` finds where a field's node starts. */
class DocumentObject implements ParsedObject {
  constructor(
    readonly value: Record<string, unknown>,
    private readonly source: SourceText,
    private readonly offsetOf: (path: FieldPath) => number,
  ) {}

  get file(): string {
    return this.source.file;
  }

  position(path: FieldPath = []): SourcePosition {
    return this.source.position(this.offsetOf(path));
  }

  at(path: FieldPath = []): string {
    return formatPosition(this.position(path));
  }
}

/**
 * Hands each object in `text` to `visit` as its document is read, so that only one
 * document's syntax tree is alive at a time: a source object's `at` is valid only
 * during its visit. Throws SourceError on a YAML syntax error.
 *
 * A document the CST reader accepts (plainDocumentValue) becomes plain values directly;
 * the others go through yaml's Composer. The Composer gives a document the stream's
 * tokens that follow it (errors, a `...` line), so those go with the document, and a
 * document whose followers are more than white space, comments and a plain `...` is
 * composed. Directives and stray tokens before the first document hold for what comes
 * after them, so from there on every document is composed.
 */
export function forEachObject(file: string, text: string, visit: (object: ParsedObject) => void): void {
  const source = new SourceText(file);
  const parser = new Parser(source.lines.addNewLine);
  const composer = new Composer({ prettyErrors: false, uniqueKeys: false });
  const visitComposed = (documents: Iterable<Document.Parsed>): void => {
    for (const document of documents) visitComposedDocument(document, source, visit);
  };
  let composeAll = false;
  withPlainEnv(() => {
    for (const { document, followers } of documentsWithFollowers(boundedTokens(parser.parse(text), (offset) => source.where(offset)))) {
      if (document === undefined) {
        if (followers.every(isStreamSpace)) continue;
        composeAll = true;
        for (const token of followers) visitComposed(composer.next(token));
        continue;
      }
      const value = composeAll || !followers.every(isDocumentFollower) ? undefined : plainDocumentValue(document);
      if (value !== undefined) {
        // A composed document before this one is yaml's to finish first.
        visitComposed(composer.end());
        visitPlainDocument(document, value, source, visit);
        continue;
      }
      visitComposed(composer.next(document));
      for (const token of followers) {
        if (token.type === 'directive') composeAll = true;
        visitComposed(composer.next(token));
      }
    }
    visitComposed(composer.end());
  });
}

/**
 * Each document token with the stream tokens after it, up to the next document; the
 * tokens before the first document come first, without one.
 */
function* documentsWithFollowers(tokens: Iterable<CST.Token>): Generator<{ document: CST.Document | undefined; followers: CST.Token[] }> {
  let document: CST.Document | undefined;
  let followers: CST.Token[] = [];
  for (const token of tokens) {
    if (token.type !== 'document') {
      followers.push(token);
      continue;
    }
    yield { document, followers };
    document = token;
    followers = [];
  }
  yield { document, followers };
}

/** Stream tokens that the Composer only keeps as comments. */
function isStreamSpace(token: CST.Token): boolean {
  return token.type === 'space' || token.type === 'newline' || token.type === 'comment' || token.type === 'byte-order-mark';
}

/** What may follow a document that is not composed: comments and `...` lines that yaml reads without a word. */
function isDocumentFollower(token: CST.Token): boolean {
  if (token.type !== 'doc-end') return isStreamSpace(token);
  let hasSpace = false;
  for (const end of token.end ?? []) {
    if (end.type === 'space' || end.type === 'newline') hasSpace = true;
    else if (end.type !== 'comment' || !hasSpace) return false;
  }
  return true;
}

function visitPlainDocument(document: CST.Document, value: Record<string, unknown>, source: SourceText, visit: (object: ParsedObject) => void): void {
  const root = document.value as CST.Token;
  const kind = value.kind;
  if (typeof kind === 'string' && kind.endsWith('List') && Array.isArray(value.items)) {
    const items = value.items as unknown[];
    // A list value has a token: an empty value is null.
    sequenceItems(childAt(root, 'items')?.token as CST.Token).forEach((item, index) => {
      const object = items[index];
      if (item.token === undefined || object === null || typeof object !== 'object' || Array.isArray(object)) throw new SourceError(source.where(item.offset), 'List item is not an object');
      const token = item.token;
      visit(new DocumentObject(object as Record<string, unknown>, source, (path) => offsetAt(token, path)));
    });
  } else {
    visit(new DocumentObject(value, source, (path) => offsetAt(root, path)));
  }
}

function visitComposedDocument(doc: Document.Parsed, source: SourceText, visit: (object: ParsedObject) => void): void {
  const position = (offset: number | undefined): string => source.where(offset);
  if (doc.errors.length > 0) throw new SourceError(position(doc.errors[0].pos[0]), doc.errors[0].message.split('\n')[0]);
  const root = doc.contents;
  // An empty document (as after a trailing `---`) holds a null scalar.
  if (root === null || root === undefined || (isScalar(root) && root.value === null)) return;
  if (!isMap(root)) throw new SourceError(position(root.range?.[0]), 'expected an object with apiVersion and kind');
  const add = (node: YAMLMap): void => {
    let value: Record<string, unknown>;
    try {
      // Through the document, so that aliases resolve to what their anchors hold.
      value = ownStrings(node.toJS(doc) as Record<string, unknown>);
    } catch (error) {
      // yaml refuses alias chains that would expand without bound.
      throw new SourceError(position(node.range?.[0]), (error as Error).message);
    }
    visit(new DocumentObject(value, source, (path) => nodeAt(node, path).range?.[0] ?? 0));
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

/**
 * The offset of the first collection nested deeper than `limit` in `document`, if any;
 * iterative, for any depth. Only collections go on the stack, with their depths beside
 * them rather than in an object each: this runs over every document of every file.
 */
function deeperThan(document: CST.Document, limit: number): number | undefined {
  const collections: CollectionToken[] = [];
  const depths: number[] = [];
  const push = (token: CST.Token | null | undefined, depth: number): void => {
    if (token?.type === 'block-map' || token?.type === 'block-seq' || token?.type === 'flow-collection') {
      collections.push(token);
      depths.push(depth);
    }
  };
  push(document.value, 0);
  while (collections.length > 0) {
    const collection = collections.pop() as CollectionToken;
    const depth = depths.pop() as number;
    if (depth >= limit) return collection.offset;
    for (const item of collection.items as CST.CollectionItem[]) {
      push(item.key, depth + 1);
      push(item.value, depth + 1);
    }
  }
  return undefined;
}

type CollectionToken = CST.BlockMap | CST.BlockSequence | CST.FlowCollection;

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

/**
 * The node for `path` below the composed `node`, or the deepest one on the way that
 * exists: where a field's position is, for composed documents, and what the CST reader's
 * positions are held to.
 */
export function nodeAt(node: YamlNode, path: FieldPath): YamlNode {
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
