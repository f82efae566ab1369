/**
 * Typed access to the fields of one parsed object, reporting every problem at the
 * source position of the field it concerns.
 */
import type { FieldPath, ParsedObject } from '../yaml/documents.js';
import type { SourcePosition } from './model.js';
import type { ProblemList } from './problems.js';
import { parseSelector, SelectorError, type Selector } from './selector.js';

export type { FieldPath };

/** `spec.egress[1].destination.domains[0]`. */
function describePath(path: FieldPath): string {
  let text = '';
  for (const key of path) text += typeof key === 'number' ? `[${key}]` : text === '' ? key : `.${key}`;
  return text;
}

export class ObjectReader {
  private lineStarts: number[] | undefined;

  constructor(
    private readonly object: ParsedObject,
    /** The whole file, to map selector columns onto it. */
    private readonly text: string,
    readonly problems: ProblemList,
  ) {}

  at(path: FieldPath = []): SourcePosition {
    return this.object.position(path);
  }

  error(path: FieldPath, message: string, at = this.at(path)): void {
    this.problems.error(at, path.length > 0 ? `${describePath(path)}: ${message}` : message);
  }

  warning(path: FieldPath, message: string): void {
    this.problems.warning(this.at(path), path.length > 0 ? `${describePath(path)}: ${message}` : message);
  }

  value(path: FieldPath): unknown {
    let current: unknown = this.object.value;
    for (const key of path) {
      if (current === null || typeof current !== 'object') return undefined;
      current = (current as Record<string | number, unknown>)[key];
    }
    return current;
  }

  has(path: FieldPath): boolean {
    const value = this.value(path);
    return value !== undefined && value !== null;
  }

  string(path: FieldPath): string | undefined {
    return this.asString(this.value(path), path);
  }

  /** `value`, the field at `path`, when it is a string; anything else but null is reported. */
  private asString(value: unknown, path: FieldPath): string | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'string') return value;
    this.error(path, `expected a string, not ${JSON.stringify(value)}`);
    return undefined;
  }

  number(path: FieldPath): number | undefined {
    const value = this.value(path);
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'number' && Number.isFinite(value)) return value;
    this.error(path, `expected a number, not ${JSON.stringify(value)}`);
    return undefined;
  }

  /** A list's length (0 when absent); reports anything else. */
  listLength(path: FieldPath): number {
    return this.list(path).length;
  }

  /** The list at `path` (empty when absent); reports anything else. */
  private list(path: FieldPath): readonly unknown[] {
    const value = this.value(path);
    if (value === undefined || value === null) return [];
    if (Array.isArray(value)) return value;
    this.error(path, 'expected a list');
    return [];
  }

  /** The strings of a list of strings; other items are reported and left out. */
  strings(path: FieldPath): { value: string; path: FieldPath }[] {
    const out: { value: string; path: FieldPath }[] = [];
    const list = this.list(path);
    for (let i = 0; i < list.length; i++) {
      const itemPath = [...path, i];
      const value = this.asString(list[i], itemPath);
      if (value !== undefined) out.push({ value, path: itemPath });
    }
    return out;
  }

  /** True when the field is absent or an object; reports anything else. */
  isObject(path: FieldPath): boolean {
    const value = this.value(path);
    if (value === undefined || value === null) return true;
    if (typeof value === 'object' && !Array.isArray(value)) return true;
    this.error(path, 'expected an object');
    return false;
  }

  /** Warns about keys of the object at `path` that Calico does not define there. */
  warnUnknownKeys(path: FieldPath, known: ReadonlySet<string>): void {
    const value = this.value(path);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return;
    for (const key of Object.keys(value)) {
      if (!known.has(key)) this.warning([...path, key], 'unknown field, ignored');
    }
  }

  /**
   * The selector at `path`, or undefined when absent. A syntax error is reported at its
   * column inside the YAML text when the scalar there is the selector verbatim (plain
   * or quoted without escapes on one line), else at the start of the value.
   */
  selector(path: FieldPath): Selector | undefined {
    const text = this.string(path);
    if (text === undefined) return undefined;
    try {
      return parseSelector(text);
    } catch (error) {
      if (!(error instanceof SelectorError)) throw error;
      this.error(path, `invalid selector ${JSON.stringify(text)}: ${error.message}`, this.columnAt(path, text, error.column));
      return undefined;
    }
  }

  private columnAt(path: FieldPath, selector: string, column: number): SourcePosition {
    const at = this.at(path);
    this.lineStarts ??= lineStartOffsets(this.text);
    const offset = (this.lineStarts[at.line - 1] ?? 0) + at.col - 1;
    const first = this.text[offset];
    const quoted = first === '"' || first === "'";
    const start = quoted ? offset + 1 : offset;
    const verbatim = this.text.slice(start, start + selector.length) === selector && !selector.includes('\n');
    const closed = !quoted || this.text[start + selector.length] === first;
    return verbatim && closed ? { ...at, col: at.col + (start - offset) + column } : at;
  }
}

function lineStartOffsets(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return starts;
}
