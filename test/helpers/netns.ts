/**
 * Where a helper process runs: in this process's network namespace, or in one of its
 * own. Node cannot enter a namespace, so processes start through `ip netns exec`
 * (which execs the command, keeping its PID) and HTTP requests to servers inside go
 * through a short-lived node started inside.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface HttpReply {
  status: number;
  body: string;
}

export interface Place {
  /** `host`, or the namespace's name. */
  readonly name: string;
  /** The argv that runs `file args` here. */
  command(file: string, args: readonly string[]): [string, string[]];
  /** GETs `url` from here; undefined when nothing answered. */
  get(url: string): Promise<HttpReply | undefined>;
}

export const HOST: Place = {
  name: 'host',
  command: (file, args) => [file, [...args]],
  get: async (url) => {
    const response = await fetch(url).catch(() => undefined);
    return response && { status: response.status, body: await response.text() };
  },
};

/** Prints the status line, then the body; exits 1 when the server did not answer. */
const GET_SCRIPT = `const r = await fetch(process.argv[1]).catch(() => undefined);
if (r) process.stdout.write(r.status + '\\n' + (await r.text())); else process.exitCode = 1;`;

/** A network namespace with only its loopback, up. Delete it when done. */
export class NetworkNamespace implements Place {
  private constructor(readonly name: string) {}

  static async create(prefix = 'dnsgate'): Promise<NetworkNamespace> {
    const namespace = new NetworkNamespace(`${prefix}-${randomBytes(4).toString('hex')}`);
    await run('ip', ['netns', 'add', namespace.name]);
    try {
      await run('ip', ['-n', namespace.name, 'link', 'set', 'lo', 'up']);
    } catch (error) {
      await namespace.delete();
      throw error;
    }
    return namespace;
  }

  command(file: string, args: readonly string[]): [string, string[]] {
    return ['ip', ['netns', 'exec', this.name, file, ...args]];
  }

  async get(url: string): Promise<HttpReply | undefined> {
    const [file, args] = this.command(process.execPath, ['--input-type=module', '-e', GET_SCRIPT, url]);
    const output = await run(file, args).catch(() => undefined);
    if (output === undefined) return undefined;
    const newline = output.stdout.indexOf('\n');
    return { status: Number(output.stdout.slice(0, newline)), body: output.stdout.slice(newline + 1) };
  }

  /** Removes the namespace; processes still inside must have been stopped first. */
  async delete(): Promise<void> {
    await run('ip', ['netns', 'delete', this.name]);
  }
}
