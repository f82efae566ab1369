/**
 * Strings that keep nothing else alive. In V8 a string cut from a longer one (a scalar
 * of a parsed file, a field of a JSON body) is a view on the whole text: one domain kept
 * from a 50 MB policy file keeps the 50 MB for as long as the policies live.
 */

/** Below this length V8 copies a substring instead of making a view on its parent. */
const MIN_VIEW_LENGTH = 13;

/** `text` as a string of its own. */
export function ownString(text: string): string {
  // Concatenating makes a new string; cutting it again copies it flat, without the parent.
  return text.length < MIN_VIEW_LENGTH ? text : (' ' + text).slice(1);
}

/** `value` with every string in it, keys aside, made its own; objects and arrays are changed in place. */
export function ownStrings<T>(value: T): T {
  if (typeof value === 'string') return ownString(value) as T;
  if (value === null || typeof value !== 'object') return value;
  const container = value as Record<string, unknown>;
  for (const key of Object.keys(container)) container[key] = ownStrings(container[key]);
  return value;
}
