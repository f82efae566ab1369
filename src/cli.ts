#!/usr/bin/env node
/** The `dnsgate` command line. Usage and configuration errors exit 2 with one line. */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { explainCommand } from './commands/explain.js';
import { recommendCommand } from './commands/recommend.js';
import { serveCommand } from './commands/serve.js';
import { stageCommand } from './commands/stage.js';
import { validateCommand } from './commands/validate.js';
import { ConfigError } from './util/errors.js';

const USAGE_EXIT = 2;

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

const output = { outputError: (text: string, write: (text: string) => void) => write(`dnsgate: ${text.replace(/^error: /, '').trimEnd()}\n`) };

const program = new Command('dnsgate')
  .description('DNS proxy that enforces Calico domain egress policies per pod')
  .exitOverride()
  .configureOutput(output);

program.addCommand(serveCommand());
program.addCommand(validateCommand());
program.addCommand(explainCommand());
program.addCommand(recommendCommand());
program.addCommand(stageCommand());
program
  .command('version')
  .description('print the version')
  .action(() => {
    process.stdout.write(`dnsgate ${packageVersion()}\n`);
  });

// Subcommands do not inherit these settings from the program.
for (const command of program.commands) command.exitOverride().configureOutput(output);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exit(error.exitCode === 0 ? 0 : USAGE_EXIT);
  }
  if (error instanceof ConfigError) {
    process.stderr.write(`dnsgate: ${error.message}\n`);
    process.exit(USAGE_EXIT);
  }
  process.stderr.write(`dnsgate: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
}
