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
  const fail = (reason: string): DomainPatternCheck => ({ ok: false, reason });
  if (pattern === '') return fail('empty domain');
  if (pattern.endsWith('.')) return fail('must not end with "."');
  if (pattern.length > MAX_DOMAIN_LENGTH) return fail(`longer than ${MAX_DOMAIN_LENGTH} characters`);
  if (pattern === '*') return fail('a bare "*" is not allowed');
  if (pattern.indexOf('*') !== pattern.lastIndexOf('*')) return fail('only one "*" is allowed');
  const labels = pattern.split('.');
  for (const label of labels) {
    if (label === '') return fail('empty label');
    if (label === '*') continue;
    if (label.includes('*')) return fail('"*" must be a whole label');
    const bad = /[^a-z0-9-]/.exec(label);
    if (bad) return fail(`invalid character ${JSON.stringify(bad[0])} (labels use a-z, 0-9 and "-")`);
    // Calico checks each label as a DNS-1123 label.
    if (label.startsWith('-') || label.endsWith('-')) return fail(`label ${JSON.stringify(label)} must start and end with a letter or digit`);
    if (label.length > MAX_LABEL_LENGTH) return fail(`label longer than ${MAX_LABEL_LENGTH} characters`);
  }
  if (labels[labels.length - 1] === '*') return fail('"*" cannot be the last label');
  return { ok: true, pattern };
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
