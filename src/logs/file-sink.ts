/**
 * `DIR/dns.log`, appended to and rotated by size with numbered backups, as logrotate
 * names them: `dns.log` → `dns.log.1` → … → `dns.log.N`, the oldest dropped. Tailers
 * (fluent-bit, fluentd) follow the rename. A failed write is cut off the file again,
 * so a full disk never leaves half a line for the next write to run into.
 */
import { mkdir, open, rename, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { LineTarget } from './line-queue.js';

const LOG_FILE_NAME = 'dns.log';

export class RotatingFile implements LineTarget {
  readonly path: string;
  private handle: FileHandle | undefined;
  private size = 0;

  constructor(
    private readonly dir: string,
    /** `dns.log` is rotated before a write would take it past this size. */
    private readonly maxBytes: number,
    /** Rotated files kept. */
    private readonly maxFiles: number,
  ) {
    this.path = join(dir, LOG_FILE_NAME);
  }

  async write(chunk: Buffer): Promise<void> {
    let handle = this.handle ?? (await this.open());
    if (this.size > 0 && this.size + chunk.length > this.maxBytes) handle = await this.rotate(handle);
    try {
      await handle.appendFile(chunk);
      this.size += chunk.length;
    } catch (error) {
      await this.discard(handle);
      throw error;
    }
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close();
  }

  /** Opens `dns.log` for appending, creating the directory; the size is what is already there. */
  private async open(): Promise<FileHandle> {
    await mkdir(this.dir, { recursive: true });
    const handle = await open(this.path, 'a');
    try {
      this.size = (await handle.stat()).size;
    } catch (error) {
      await handle.close();
      throw error;
    }
    this.handle = handle;
    return handle;
  }

  private async rotate(handle: FileHandle): Promise<FileHandle> {
    this.handle = undefined;
    await handle.close();
    for (let n = this.maxFiles - 1; n >= 1; n--) {
      await rename(`${this.path}.${n}`, `${this.path}.${n + 1}`).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
    }
    await rename(this.path, `${this.path}.1`);
    return this.open();
  }

  /**
   * Cuts the file back to its last whole line and closes it; the next write reopens
   * it and reads its size afresh, in case the cut failed too.
   */
  private async discard(handle: FileHandle): Promise<void> {
    this.handle = undefined;
    await handle.truncate(this.size).catch(() => undefined);
    await handle.close().catch(() => undefined);
  }
}
