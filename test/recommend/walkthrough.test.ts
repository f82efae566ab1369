/**
 * The README's adoption walkthrough names only commands and flags dnsgate has: each
 * `dnsgate` line of its shell blocks is checked against that command's --help. What the
 * commands do is tested in recommend.test.ts and dataplane/staged-audit.test.ts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CLI } from '../helpers/dnsgate.js';

const README = fileURLToPath(new URL('../../../README.md', import.meta.url));

function walkthroughCommands(): string[] {
  const text = readFileSync(README, 'utf8');
  const start = text.indexOf('## Adopting default-deny');
  assert.ok(start >= 0, 'the README has the walkthrough');
  const section = text.slice(start, text.indexOf('\n## ', start + 1));
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1]);
  return blocks.flatMap((block) => block.split('\n').map((line) => line.trim()).filter((line) => line.startsWith('dnsgate ')));
}

test('every dnsgate command of the adoption walkthrough exists with the flags it is given', () => {
  const commands = walkthroughCommands();
  assert.deepEqual([...new Set(commands.map((line) => line.split(/\s+/)[1]))].sort(), ['explain', 'recommend', 'serve', 'validate']);
  const help = new Map<string, string>();
  for (const line of commands) {
    const command = line.split(/\s+/)[1];
    if (!help.has(command)) help.set(command, execFileSync(process.execPath, [CLI, command, '--help'], { encoding: 'utf8' }));
    for (const flag of line.match(/--[a-z][a-z-]*/g) ?? []) assert.match(help.get(command) as string, new RegExp(`${flag}\\b`), `${line}: ${flag}`);
  }
});
