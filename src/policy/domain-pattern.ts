/**
 * Domain patterns as Calico accepts them in `destination.domains` and
 * `allowedEgressDomains`: an exact name, or a name with one `*` label that stands for one
 * or more labels at its place.
 */

const MAX_DOMAIN_LENGTH = 253;
const MAX_LABEL_LENGTH = 63;

export type DomainPatternCheck = { ok: true; pattern: string } | { ok: false; reason: string };

/** Lowercases `text` and checks it against Calico's rules. */
export function checkDomainPattern(text: string): DomainPatternCheck {
  const pattern = text.toLowerCase();
  const reason = patternProblem(pattern);
  return reason === undefined ? { ok: true, pattern } : { ok: false, reason };
}

/** What is wrong with the lowercase `pattern`, the first problem in the order Calico checks; undefined when nothing is. */
function patternProblem(pattern: string): string | undefined {
  if (pattern === '') return 'empty domain';
  if (pattern.endsWith('.')) return 'must not end with "."';
  if (pattern.length > MAX_DOMAIN_LENGTH) return `longer than ${MAX_DOMAIN_LENGTH} characters`;
  if (pattern === '*') return 'a bare "*" is not allowed';
  const star = pattern.indexOf('*');
  if (star !== pattern.lastIndexOf('*')) return 'only one "*" is allowed';
  // Label by label, by offsets: this runs for every domain of every policy loaded.
  for (let start = 0; start <= pattern.length; ) {
    const dot = pattern.indexOf('.', start);
    const end = dot === -1 ? pattern.length : dot;
    const problem = labelProblem(pattern, start, end, star);
    if (problem !== undefined) return problem;
    start = end + 1;
  }
  // Every label passed, so a "*" is a whole label.
  if (star === pattern.length - 1) return '"*" cannot be the last label';
  return undefined;
}

/** What is wrong with the label `pattern[start, end)`, given the offset of the pattern's one "*" (or -1). */
function labelProblem(pattern: string, start: number, end: number, star: number): string | undefined {
  if (start === end) return 'empty label';
  if (star >= start && star < end) return end - start === 1 ? undefined : '"*" must be a whole label';
  for (let i = start; i < end; i++) {
    const code = pattern.charCodeAt(i);
    const allowed = (code >= 97 && code <= 122) || (code >= 48 && code <= 57) || code === 45;
    if (!allowed) return `invalid character ${JSON.stringify(pattern[i])} (labels use a-z, 0-9 and "-")`;
  }
  // Calico checks each label as a DNS-1123 label.
  if (pattern.charCodeAt(start) === 45 || pattern.charCodeAt(end - 1) === 45) return `label ${JSON.stringify(pattern.slice(start, end))} must start and end with a letter or digit`;
  if (end - start > MAX_LABEL_LENGTH) return `label longer than ${MAX_LABEL_LENGTH} characters`;
  return undefined;
}

/**
 * A queried name as patterns compare to it: lowercase, without a trailing dot, and with
 * every dot that is part of a label written `\046`, so that the dots left are exactly
 * the label boundaries. Names come in presentation form (readName escapes a dot inside
 * a label as `\.`): `evil\.example.com` is the label `evil.example` under `com`, and
 * must not be taken for a name under `example.com`.
 */
export function normalizeQueryName(name: string): string {
  let text = name.toLowerCase();
  if (text.includes('\\')) text = text.replace(ESCAPE, (escape: string, escaped: string) => (escaped === '.' ? '\\046' : escape));
  return text.endsWith('.') ? text.slice(0, -1) : text;
}

/** One escape of the presentation form: `\DDD` or a backslash and any character. */
const ESCAPE = /\\(\d{3}|[^])/g;

/** Whether `name` is one of `domains` or below one, by whole labels; allocates nothing, for the query path. */
export function isUnderDomain(name: string, domains: readonly string[]): boolean {
  for (const domain of domains) {
    if (name === domain || (name.endsWith(domain) && name.charCodeAt(name.length - domain.length - 1) === 46)) return true;
  }
  return false;
}
