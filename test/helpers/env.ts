/**
 * What this machine can run. Integration tests need root (for binding, namespaces and
 * nftables) and the Debian tools that `scripts/run-tests.mjs` installs; where either is
 * missing they skip with the reason shown in the test output.
 */
import { spawnSync } from 'node:child_process';

export function haveCommand(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** A skip reason for `test(name, { skip }, ...)`, or false when everything is there. */
export function missing(...commands: string[]): string | false {
  if (process.getuid?.() !== 0) return 'integration tests need root';
  const absent = commands.filter((command) => !haveCommand(command));
  return absent.length > 0 ? `missing ${absent.join(', ')}` : false;
}
