/**
 * Calico label selectors: a tokenizer and recursive-descent parser for the whole grammar
 * (libcalico-go's), compiled once into closures so that evaluation is a few property
 * reads and comparisons.
 *
 * Precedence, tightest first: the match operators, `!`, `&&`, `||`. An empty selector is
 * `all()`. A missing label makes `==`, `in`, `contains`, `starts with`, `ends with` and
 * `has` false, and `!=` and `not in` true.
 */

export type Labels = Readonly<Record<string, string>>;

/**
 * What `all()` and `global()` mean depends on what a selector ranges over. Everywhere but
 * a rule's `namespaceSelector` both match everything (as Calico evaluates them); in a
 * rule's `namespaceSelector`, Calico rewrites `all()` to "any namespaced resource" and
 * `global()` to "any non-namespaced resource".
 */
export interface SelectorScope {
  readonly all: boolean;
  readonly global: boolean;
}

export const ANY_RESOURCE: SelectorScope = { all: true, global: true };
export const NAMESPACED_RESOURCE: SelectorScope = { all: true, global: false };
export const GLOBAL_RESOURCE: SelectorScope = { all: false, global: true };

/** A syntax error; `column` is the 0-based offset into the selector text. */
export class SelectorError extends Error {
  constructor(
    readonly column: number,
    readonly reason: string,
  ) {
    super(`${reason} (column ${column})`);
  }
}

export interface Selector {
  /** The selector as written. */
  readonly text: string;
  /** True when `global()` appears anywhere in it. */
  readonly mentionsGlobal: boolean;
  /** True when it is exactly `global()` (surrounding blanks aside). */
  readonly isGlobalOnly: boolean;
  /** Evaluates with `all()` and `global()` matching everything. */
  matches(labels: Labels): boolean;
  evaluate(labels: Labels, scope: SelectorScope): boolean;
}

type Predicate = (labels: Labels, scope: SelectorScope) => boolean;

type TokenKind =
  | 'label' | 'string' | '{' | '}' | ',' | '==' | '!=' | 'in' | 'not in' | '!' | 'contains' | 'starts with'
  | 'ends with' | 'all()' | 'global()' | 'has()' | '(' | ')' | '&&' | '||' | 'end';

interface Token {
  kind: TokenKind;
  /** The label name, string contents or `has()` argument. */
  value: string;
  at: number;
}

/** Calico's label key characters. */
const LABEL_CHAR = /[a-zA-Z0-9_./-]/;
/** libcalico-go's tokenizer reads label names of 1 to 512 characters. */
const MAX_LABEL_LENGTH = 512;
/** Deeper nesting than this is refused rather than risking the call stack. */
const MAX_DEPTH = 256;

function isBlank(char: string | undefined): boolean {
  return char === ' ' || char === '\t';
}

/** Follows libcalico-go's tokenizer, including which words count as operators after a label. */
function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const skipBlanks = (): void => {
    while (isBlank(text[i])) i++;
  };
  const readLabel = (): string => {
    const start = i;
    while (i < text.length && LABEL_CHAR.test(text[i])) i++;
    if (i - start > MAX_LABEL_LENGTH) throw new SelectorError(start, `label name longer than ${MAX_LABEL_LENGTH} characters`);
    return text.slice(start, i);
  };
  const push = (kind: TokenKind, at: number, value = ''): void => {
    tokens.push({ kind, value, at });
  };
  for (;;) {
    skipBlanks();
    const at = i;
    if (i >= text.length) {
      push('end', at);
      return tokens;
    }
    const char = text[i];
    const afterLabel = tokens.length > 0 && tokens[tokens.length - 1].kind === 'label';
    switch (char) {
      case '(':
      case ')':
      case '{':
      case '}':
      case ',':
        push(char, at);
        i++;
        continue;
      case '"':
      case "'": {
        const close = text.indexOf(char, i + 1);
        if (close < 0) throw new SelectorError(at, 'unterminated string');
        push('string', at, text.slice(i + 1, close));
        i = close + 1;
        continue;
      }
      case '=':
        if (text[i + 1] !== '=') throw new SelectorError(at, 'expected ==');
        push('==', at);
        i += 2;
        continue;
      case '!':
        if (text[i + 1] === '=') {
          push('!=', at);
          i += 2;
        } else {
          push('!', at);
          i++;
        }
        continue;
      case '&':
      case '|':
        if (text[i + 1] !== char) throw new SelectorError(at, `expected ${char}${char}`);
        push(char === '&' ? '&&' : '||', at);
        i += 2;
        continue;
    }
    if (afterLabel) {
      i = readOperatorWord(text, i, tokens);
      continue;
    }
    if (text.startsWith('has(', i)) {
      i += 4;
      skipBlanks();
      const label = readLabel();
      if (label === '') throw new SelectorError(i, 'expected a label name in has()');
      skipBlanks();
      if (text[i] !== ')') throw new SelectorError(i, 'expected ) to close has(');
      i++;
      push('has()', at, label);
      continue;
    }
    const call = text.startsWith('all(', i) ? 'all()' : text.startsWith('global(', i) ? 'global()' : undefined;
    if (call) {
      i += call.length - 1;
      skipBlanks();
      if (text[i] !== ')') throw new SelectorError(i, `expected ) to close ${call.slice(0, -1)}`);
      i++;
      push(call, at);
      continue;
    }
    const label = readLabel();
    if (label === '') throw new SelectorError(at, `unexpected character ${JSON.stringify(char)}`);
    push('label', at, label);
  }
}

/** After a label only an operator word may follow; returns the offset past it. */
function readOperatorWord(text: string, start: number, tokens: Token[]): number {
  const twoWords: [string, string, TokenKind][] = [
    ['starts', 'with', 'starts with'],
    ['ends', 'with', 'ends with'],
    ['not', 'in', 'not in'],
  ];
  for (const [first, second, kind] of twoWords) {
    if (!text.startsWith(first, start)) continue;
    let i = start + first.length;
    while (isBlank(text[i])) i++;
    if (!text.startsWith(second, i)) throw new SelectorError(i, `expected "${second}" after "${first}"`);
    tokens.push({ kind, value: '', at: start });
    return i + second.length;
  }
  for (const word of ['contains', 'in'] as const) {
    if (text.startsWith(word, start)) {
      tokens.push({ kind: word, value: '', at: start });
      return start + word.length;
    }
  }
  const label = tokens[tokens.length - 1].value;
  throw new SelectorError(start, `expected an operator after label "${label}"`);
}

function describe(token: Token): string {
  switch (token.kind) {
    case 'end':
      return 'end of selector';
    case 'label':
      return `label "${token.value}"`;
    case 'string':
      return `string ${JSON.stringify(token.value)}`;
    case 'has()':
      return `has(${token.value})`;
    default:
      return `"${token.kind}"`;
  }
}

class Parser {
  private position = 0;
  mentionsGlobal = false;

  constructor(private readonly tokens: readonly Token[]) {}

  /** A method, not a getter, so that TypeScript does not narrow it across `position++`. */
  private peek(): Token {
    return this.tokens[this.position];
  }

  parseRoot(): Predicate {
    if (this.peek().kind === 'end') return (_labels, scope) => scope.all;
    const predicate = this.parseOr(0);
    if (this.peek().kind !== 'end') throw new SelectorError(this.peek().at, `unexpected ${describe(this.peek())}`);
    return predicate;
  }

  private parseOr(depth: number): Predicate {
    const terms = [this.parseAnd(depth)];
    while (this.peek().kind === '||') {
      this.position++;
      terms.push(this.parseAnd(depth));
    }
    if (terms.length === 1) return terms[0];
    if (terms.length === 2) {
      const [a, b] = terms;
      return (labels, scope) => a(labels, scope) || b(labels, scope);
    }
    return (labels, scope) => terms.some((term) => term(labels, scope));
  }

  private parseAnd(depth: number): Predicate {
    const terms = [this.parseOperation(depth)];
    while (this.peek().kind === '&&') {
      this.position++;
      terms.push(this.parseOperation(depth));
    }
    if (terms.length === 1) return terms[0];
    if (terms.length === 2) {
      const [a, b] = terms;
      return (labels, scope) => a(labels, scope) && b(labels, scope);
    }
    return (labels, scope) => terms.every((term) => term(labels, scope));
  }

  private parseOperation(depth: number): Predicate {
    // Leading "!"s collapse to one negation, as in Calico.
    let negated = false;
    while (this.peek().kind === '!') {
      negated = !negated;
      this.position++;
    }
    const predicate = this.parseMatch(depth);
    return negated ? (labels, scope) => !predicate(labels, scope) : predicate;
  }

  private parseMatch(depth: number): Predicate {
    const token = this.peek();
    switch (token.kind) {
      case 'all()':
        this.position++;
        return (_labels, scope) => scope.all;
      case 'global()':
        this.position++;
        this.mentionsGlobal = true;
        return (_labels, scope) => scope.global;
      case 'has()': {
        this.position++;
        const key = token.value;
        return (labels) => typeof labels[key] === 'string';
      }
      case '(': {
        if (depth >= MAX_DEPTH) throw new SelectorError(token.at, `parentheses nested deeper than ${MAX_DEPTH}`);
        this.position++;
        const inner = this.parseOr(depth + 1);
        if (this.peek().kind !== ')') throw new SelectorError(this.peek().at, `expected ) to close the ( at column ${token.at}, found ${describe(this.peek())}`);
        this.position++;
        return inner;
      }
      case 'label':
        this.position++;
        return this.parseLabelMatch(token.value);
      default:
        throw new SelectorError(token.at, `unexpected ${describe(token)}`);
    }
  }

  private parseLabelMatch(key: string): Predicate {
    const operator = this.peek();
    this.position++;
    switch (operator.kind) {
      case '==': {
        const value = this.expectString(operator);
        return (labels) => labels[key] === value;
      }
      case '!=': {
        const value = this.expectString(operator);
        return (labels) => labels[key] !== value;
      }
      case 'contains': {
        const value = this.expectString(operator);
        return (labels) => {
          const label = labels[key];
          return typeof label === 'string' && label.includes(value);
        };
      }
      case 'starts with': {
        const value = this.expectString(operator);
        return (labels) => {
          const label = labels[key];
          return typeof label === 'string' && label.startsWith(value);
        };
      }
      case 'ends with': {
        const value = this.expectString(operator);
        return (labels) => {
          const label = labels[key];
          return typeof label === 'string' && label.endsWith(value);
        };
      }
      case 'in':
      case 'not in': {
        const values = this.parseSet(operator);
        const inSet = (labels: Labels): boolean => {
          const label = labels[key];
          return typeof label === 'string' && values.has(label);
        };
        return operator.kind === 'in' ? inSet : (labels) => !inSet(labels);
      }
      default:
        throw new SelectorError(operator.at, `expected an operator after label "${key}", found ${describe(operator)}`);
    }
  }

  private expectString(operator: Token): string {
    const token = this.peek();
    if (token.kind !== 'string') throw new SelectorError(token.at, `expected a quoted string after "${operator.kind}", found ${describe(token)}`);
    this.position++;
    return token.value;
  }

  /** `{ 'a', "b" }`; like Calico, an empty set and a trailing comma are accepted. */
  private parseSet(operator: Token): Set<string> {
    if (this.peek().kind !== '{') throw new SelectorError(this.peek().at, `expected { after "${operator.kind}", found ${describe(this.peek())}`);
    this.position++;
    const values = new Set<string>();
    while (this.peek().kind === 'string') {
      values.add(this.peek().value);
      this.position++;
      if (this.peek().kind !== ',') break;
      this.position++;
    }
    if (this.peek().kind !== '}') throw new SelectorError(this.peek().at, `expected } to close the set, found ${describe(this.peek())}`);
    this.position++;
    return values;
  }
}

/** Parses and compiles `text`; throws SelectorError with the column of the problem. */
export function parseSelector(text: string): Selector {
  const tokens = tokenize(text);
  const parser = new Parser(tokens);
  const predicate = parser.parseRoot();
  return {
    text,
    mentionsGlobal: parser.mentionsGlobal,
    isGlobalOnly: tokens.length === 2 && tokens[0].kind === 'global()',
    matches: (labels) => predicate(labels, ANY_RESOURCE),
    evaluate: predicate,
  };
}

/** The selector an absent field means. */
export const ALL: Selector = parseSelector('');
