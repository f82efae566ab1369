/**
 * The V8 and Node flags dnsgate ships with, read from `npm start` (the image's
 * ENTRYPOINT carries the same ones), so that the bench measures what runs.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const PACKAGE_JSON = fileURLToPath(new URL('../../package.json', import.meta.url));

/** `node FLAGS… dist/src/cli.js serve` → FLAGS. */
export function nodeFlagsOf(startScript: string): string[] {
  const words = startScript.trim().split(/\s+/);
  const script = words.findIndex((word) => word.endsWith('cli.js'));
  if (words[0] !== 'node' || script < 0) throw new Error(`npm start is not "node [flags] …/cli.js …": ${startScript}`);
  return words.slice(1, script);
}

export function shippedNodeFlags(): string[] {
  const manifest = JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { scripts: { start: string } };
  return nodeFlagsOf(manifest.scripts.start);
}
