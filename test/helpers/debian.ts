/**
 * Installs the Debian packages that provide missing commands, as root with apt-get,
 * for the test runner and the benchmark alike. Everything it prints goes to stderr,
 * keeping stdout for results.
 */
import { spawnSync } from 'node:child_process';
import { haveCommand } from './env.js';

function apt(args: readonly string[]): boolean {
  return spawnSync('apt-get', args, { stdio: ['ignore', 2, 2], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0;
}

/**
 * `tools` maps each command to the package that provides it. Installs the packages of
 * the missing ones when it can (running `apt-get update` only if the first attempt
 * fails) and returns the commands still missing.
 */
export function installMissing(tools: Readonly<Record<string, string>>, purpose: string): string[] {
  const missing = Object.entries(tools).filter(([command]) => !haveCommand(command));
  if (missing.length === 0) return [];
  const packages = [...new Set(missing.map(([, pkg]) => pkg))];
  if (process.getuid?.() === 0 && haveCommand('apt-get')) {
    console.error(`installing ${packages.join(' ')} for ${purpose}`);
    const install = ['install', '-y', '--no-install-recommends', ...packages];
    if (!apt(install)) {
      apt(['update']);
      apt(install);
    }
  } else {
    console.error(`not root or no apt-get: cannot install ${packages.join(', ')} for ${purpose}`);
  }
  return missing.map(([command]) => command).filter((command) => !haveCommand(command));
}
