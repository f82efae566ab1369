/**
 * Plain JS values read straight from yaml's CST, for documents made only of what
 * Kubernetes objects are written with: block maps and sequences, flow sequences and maps
 * of scalars, scalars of every style, comments. On a large policy file, composing yaml's
 * Document (a node object per value, then toJS) costs as much as parsing did, and its
 * garbage as much again. Anything else (anchors, aliases, tags, explicit or multi-line
 * keys, duplicate keys, tabs, nested flow collections, anything yaml would report) makes
 * the document one for yaml's Composer, so that values, positions and errors stay yaml's.
 */
import { CST, Schema, isScalar, type ScalarTag } from 'yaml';
import { ownString } from '../util/own-strings.js';

/** Keys and indexes from an object down to one of its fields: `['spec', 'egress', 0]`. */
export type FieldPath = readonly (string | number)[];

/** Thrown inside the conversion: the document holds something only yaml's Composer reads right. */
class NeedsComposer extends Error {}

function needsComposer(): never {
  throw new NeedsComposer('left to the Composer');
}

/**
 * The value of `document` when it is a map that yaml's Composer (YAML 1.2, core schema,
 * duplicate keys allowed) would compose without errors into exactly that value; else
 * undefined. Nesting is bounded by the caller (MAX_NESTING), so recursion is safe here.
 */
export function plainDocumentValue(document: CST.Document): Record<string, unknown> | undefined {
  const root = document.value;
  if (root?.type !== 'block-map') return undefined;
  try {
    const start = indicatorIn(document.start, 'doc-start', true);
    // yaml: "Block collection cannot start on same line with directives-end marker".
    if (start && !document.start.some((token) => token.type === 'newline')) return undefined;
    checkEnd(document.end, false);
    return blockMapValue(root);
  } catch (error) {
    if (error instanceof NeedsComposer) return undefined;
    throw error;
  }
}

/**
 * The offset at which yaml's composed node for `path` below `token` starts, or that of
 * the deepest node on the way that exists; `token` is one plainDocumentValue accepted.
 */
export function offsetAt(token: CST.Token, path: FieldPath): number {
  let offset = token.offset;
  let current: CST.Token | undefined = token;
  for (const key of path) {
    const child: Child | undefined = current && childAt(current, key);
    if (!child) break;
    offset = child.offset;
    current = child.token;
  }
  return offset;
}

/**
 * A value node as yaml composes it: its token, or for an empty value (`key:` with
 * nothing after it) only the offset where yaml places the null it stands for.
 */
export interface Child {
  token: CST.Token | undefined;
  offset: number;
}

/** The items of a sequence token plainDocumentValue accepted, in order. */
export function sequenceItems(token: CST.Token): Child[] {
  const items: Child[] = [];
  if (token.type === 'block-seq') {
    for (const item of token.items) if (item.start.some((start) => start.type === 'seq-item-ind')) items.push(child(item.value, item.start));
  } else if (token.type === 'flow-collection' && token.start.source === '[') {
    for (const item of token.items) if (item.value) items.push(child(item.value, item.start));
  }
  return items;
}

/** The node yaml composes for `key` of the map or sequence `token`, if there is one. */
export function childAt(token: CST.Token, key: string | number): Child | undefined {
  if (token.type === 'block-map' || (token.type === 'flow-collection' && token.start.source === '{')) {
    // The first of equal keys, as yaml's YAMLMap.get finds it (there are none in an accepted document).
    for (const item of token.items) {
      if (item.key && item.sep && scalarValue(item.key as CST.FlowScalar) === key) return child(item.value, item.sep);
    }
    return undefined;
  }
  return typeof key === 'number' ? sequenceItems(token)[key] : undefined;
}

function child(value: CST.Token | undefined, before: readonly CST.SourceToken[]): Child {
  return value ? { token: value, offset: value.offset } : { token: undefined, offset: emptyValueOffset(before) };
}

/**
 * Where yaml's emptyScalarPosition puts an empty value: after the indicator (`:` or `-`)
 * that precedes it and the spaces after that, before any comment.
 */
function emptyValueOffset(before: readonly CST.SourceToken[]): number {
  const last = before[before.length - 1];
  let offset = last.offset + last.source.length;
  for (let i = before.length - 1; i >= 0; i--) {
    const type = before[i].type;
    if (type === 'space' || type === 'comment' || type === 'newline') {
      offset -= before[i].source.length;
      continue;
    }
    for (let next = i + 1; before[next]?.type === 'space'; next++) offset += before[next].source.length;
    break;
  }
  return offset;
}

function nodeValue(token: CST.Token): unknown {
  switch (token.type) {
    case 'scalar':
    case 'single-quoted-scalar':
    case 'double-quoted-scalar':
    case 'block-scalar':
      return ownedValue(scalarValue(token));
    case 'block-map':
      return blockMapValue(token);
    case 'block-seq':
      return blockSeqValue(token);
    case 'flow-collection':
      return flowCollectionValue(token);
    default:
      return needsComposer();
  }
}

/**
 * Keys longer than this need the Composer: yaml reports an implicit key whose `:` is more
 * than 1,024 characters after its start, counted from before any leading white space.
 */
const MAX_KEY_LENGTH = 512;

function blockMapValue(map: CST.BlockMap): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  const items = map.items;
  for (let i = 0; i < items.length; i++) {
    const { start, key, sep, value } = items[i];
    if (indicatorIn(start, 'explicit-key-ind', true)) needsComposer();
    if (!sep) {
      // Comments after the last entry; yaml reports anything else without a `:`.
      if (key || i !== items.length - 1) needsComposer();
      continue;
    }
    if (!isSingleLineScalar(key) || key.indent !== map.indent) return needsComposer();
    const colon = indicatorIn(sep, 'map-value-ind', false);
    if (!colon || colon.offset - key.offset > MAX_KEY_LENGTH || !onlySpacesBefore(sep, colon)) needsComposer();
    // yaml: "Nested mappings are not allowed in compact mappings".
    if (value?.type === 'block-map' && !sep.some((token) => token.type === 'newline')) needsComposer();
    addEntry(object, key, value);
  }
  return object;
}

function blockSeqValue(seq: CST.BlockSequence): unknown[] {
  const array: unknown[] = [];
  for (const { start, value } of seq.items) {
    if (indicatorIn(start, 'seq-item-ind', true)) array.push(value ? nodeValue(value) : null);
    // Without a `-`, only comments: yaml reports a value there.
    else if (value) needsComposer();
  }
  return array;
}

/** `[443, https]` or `{name: web, namespace: shop}`: scalars only, on one line or several. */
function flowCollectionValue(collection: CST.FlowCollection): unknown[] | Record<string, unknown> {
  const isMap = collection.start.source === '{';
  const [close, ...after] = collection.end;
  if (close?.source !== (isMap ? '}' : ']')) needsComposer();
  checkEnd(after, true);
  const array: unknown[] = [];
  const object: Record<string, unknown> = {};
  const items = collection.items;
  for (let i = 0; i < items.length; i++) {
    const { start, key, sep, value } = items[i];
    if (indicatorIn(start, 'explicit-key-ind', false, true)) needsComposer();
    const comma = start.some((token) => token.type === 'comma');
    if (!key && !sep && !value) {
      // Only a trailing comma (or nothing, in `[ ]`) leaves an empty item that yaml accepts.
      if ((i === 0 && comma) || i !== items.length - 1) needsComposer();
      continue;
    }
    if (comma !== (i > 0)) needsComposer();
    if (value && !isFlowScalar(value)) needsComposer();
    if (!isMap) {
      if (key || sep || !value) needsComposer();
      array.push(ownedValue(scalarValue(value as CST.FlowScalar)));
    } else {
      if (!isSingleLineScalar(key) || !sep || !indicatorIn(sep, 'map-value-ind', false)) return needsComposer();
      addEntry(object, key, value);
    }
  }
  return isMap ? object : array;
}

/** Adds `key: value` to `object` as yaml's toJS does; a repeated key needs the Composer (its value and position differ). */
function addEntry(object: Record<string, unknown>, key: CST.FlowScalar, value: CST.Token | undefined): void {
  const keyValue = scalarValue(key);
  const name = keyValue === null ? '' : String(keyValue);
  if (Object.hasOwn(object, name)) needsComposer();
  const entry = value ? nodeValue(value) : null;
  // As yaml's addPairToJSMap: an own property even for names such as `__proto__`.
  if (name in object) Object.defineProperty(object, name, { value: entry, writable: true, enumerable: true, configurable: true });
  else object[name] = entry;
}

function isFlowScalar(token: CST.Token | null | undefined): token is CST.FlowScalar {
  return token?.type === 'scalar' || token?.type === 'single-quoted-scalar' || token?.type === 'double-quoted-scalar';
}

/** A flow scalar with no line break in it or after it, as yaml requires of an implicit key. */
function isSingleLineScalar(token: CST.Token | null | undefined): token is CST.FlowScalar {
  return isFlowScalar(token) && !token.source.includes('\n') && !token.end?.some((end) => end.type === 'newline');
}

function onlySpacesBefore(tokens: readonly CST.SourceToken[], indicator: CST.SourceToken): boolean {
  for (const token of tokens) {
    if (token === indicator) return true;
    if (token.type !== 'space') return false;
  }
  return false;
}

/**
 * The `indicator` token among `tokens` (what precedes an item, or separates a key from
 * its value), checked as yaml's resolveProps checks them: white space, newlines,
 * comments with white space before them, at most one indicator, and in a flow
 * collection at most one comma. Anything else, and any tab, needs the Composer.
 */
function indicatorIn(tokens: readonly CST.SourceToken[], indicator: CST.SourceToken['type'], startOnNewline: boolean, inFlow = false): CST.SourceToken | undefined {
  let found: CST.SourceToken | undefined;
  let hasSpace = startOnNewline;
  let commas = 0;
  for (const token of tokens) {
    switch (token.type) {
      case 'space':
        if (token.source.includes('\t')) needsComposer();
        hasSpace = true;
        break;
      case 'newline':
        hasSpace = true;
        break;
      case 'comment':
        if (!hasSpace) needsComposer();
        break;
      case 'comma':
        if (!inFlow || ++commas > 1) needsComposer();
        hasSpace = false;
        break;
      default:
        if (token.type !== indicator || found) needsComposer();
        found = token;
        hasSpace = false;
    }
  }
  return found;
}

/** What may follow a node or document: white space and comments (with white space before them when `strict`), as yaml's resolveEnd checks them. */
function checkEnd(tokens: readonly CST.SourceToken[] | undefined, strict: boolean): void {
  let hasSpace = false;
  for (const token of tokens ?? []) {
    if (token.type === 'space' || token.type === 'newline') hasSpace = true;
    else if (token.type !== 'comment' || (strict && !hasSpace)) needsComposer();
  }
}

/**
 * The core schema's tags that plain scalars are tested against, in yaml's order: null,
 * bool, int (octal, decimal, hex), float (.inf/.nan, exponent, fraction).
 */
const CORE_TAGS: readonly ScalarTag[] = new Schema({}).tags.filter((tag): tag is ScalarTag => !tag.collection && tag.default === true && tag.test !== undefined);

/**
 * What every core-schema test above needs the first character of a non-empty plain
 * scalar to be (`~`, a letter of null/true/false, a digit, a sign or a dot); any other
 * is a string, which is most plain scalars, and so is not tested eight times.
 */
const CORE_FIRST_CHARACTERS = new Set('~nNtTfF0123456789+-.');

/** A value's string as its own (ownString); keys become property names, which V8 copies anyway. */
function ownedValue(value: unknown): unknown {
  return typeof value === 'string' ? ownString(value) : value;
}

function scalarValue(token: CST.FlowScalar | CST.BlockScalar): unknown {
  const text = CST.resolveAsScalar(token, true, needsComposer).value;
  if (token.type !== 'scalar' || (text !== '' && !CORE_FIRST_CHARACTERS.has(text[0]))) return text;
  const tag = CORE_TAGS.find((candidate) => candidate.test?.test(text));
  if (!tag) return text;
  const resolved = tag.resolve(text, needsComposer, {});
  return isScalar(resolved) ? resolved.value : resolved;
}
