/**
 * What the Public Suffix List (through `tldts`, its private section included) says about
 * a name: where registrations happen, and so which names are names of their own.
 */
import { getPublicSuffix, parse } from 'tldts';

const WITH_PRIVATE = { allowPrivateDomains: true };

/**
 * Whether `name` is a public suffix (`com`, `co.uk`, `github.io`): a wildcard under one
 * would allow any registrant's names. An unlisted top-level name counts as one, as the
 * list's default rule says.
 */
export function isPublicSuffix(name: string): boolean {
  return getPublicSuffix(name, WITH_PRIVATE) === name;
}

/**
 * Whether `name` lies under a listed public suffix (`api.example.com`, `p1.github.io`),
 * so that it names a host of its own on the public DNS, unlike a short host name
 * (`intranet`, `db.internal`) that only a search domain makes whole.
 */
export function isPublicName(name: string): boolean {
  const parsed = parse(name, WITH_PRIVATE);
  return parsed.domain !== null && (parsed.isIcann === true || parsed.isPrivate === true);
}
