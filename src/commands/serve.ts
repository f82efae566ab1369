/** `dnsgate serve`: options from the shared table, a config file, then the running App. */
import { Command, Option } from 'commander';
import { App } from '../app.js';
import { stderrLogger } from '../util/logger.js';
import { loadConfigFile, parseFlagValues, resolveConfig } from '../config/load.js';
import { OPTIONS, choicesOf, defaultText, type OptionName, type RawValue } from '../config/options.js';

export function serveCommand(): Command {
  const command = new Command('serve')
    .description('run the DNS proxy (with no options: a dev resolver on 127.0.0.1:5353)')
    .option('-c, --config <file>', 'YAML file with the same keys as the flags; flags win');
  for (const name of Object.keys(OPTIONS) as OptionName[]) {
    const def = OPTIONS[name];
    const shown = defaultText(def);
    const option = new Option(def.flag, shown === undefined ? def.description : `${def.description} (default: ${shown})`);
    if (def.repeatable) option.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
    const choices = choicesOf(def);
    if (choices) option.choices(choices);
    command.addOption(option);
  }
  command.action(async (flags: Record<string, unknown>) => {
    const { config: configFile, ...raw } = flags as { config?: string } & Partial<Record<OptionName, RawValue | RawValue[]>>;
    const config = resolveConfig(parseFlagValues(raw), configFile === undefined ? {} : loadConfigFile(configFile));
    const app = new App(config, stderrLogger);
    await app.start();
    process.on('SIGHUP', () => void app.reload());
    const stop = (): void => {
      app.stop().then(
        () => process.exit(0),
        (error: Error) => {
          stderrLogger.error(`shutdown: ${error.message}`);
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  return command;
}
