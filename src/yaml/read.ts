/**
 * Reads policy, pods and config files with a size cap: they come from users (or a
 * ConfigMap anyone with edit rights fills), and a file far larger than any real set of
 * resources would only cost memory and start-up time.
 */
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';

/** Large enough for 100,000 NetworkSets or a 50 MB policy file. */
export const MAX_INPUT_BYTES = 64 * 1024 * 1024;

/** A file above MAX_INPUT_BYTES; its message is the reason, to follow `path:` in a one-line error. */
export class InputTooLarge extends Error {
  constructor(size: number) {
    super(`file is ${(size / 1024 / 1024).toFixed(1)} MB, above the ${MAX_INPUT_BYTES / 1024 / 1024} MB limit for policy, pods and config files`);
  }
}

/** The file's text; throws InputTooLarge past the cap, or the fs error. */
export async function readInputFile(path: string): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    if (size > MAX_INPUT_BYTES) throw new InputTooLarge(size);
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

/** readInputFile for start-up code that reads synchronously. */
export function readInputFileSync(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const { size } = fstatSync(fd);
    if (size > MAX_INPUT_BYTES) throw new InputTooLarge(size);
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}
