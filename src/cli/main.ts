// The `hodei` command line: parses arguments, runs one command, turns failures into one sentence
// on stderr and an exit code (1 for errors, 2 for usage errors), never a stack trace.
import { Command, CommanderError } from 'commander';
import { CliError, err } from './output.js';
import { DEFAULT_URL } from './client.js';
import { registerRun } from './commands/run.js';
import { registerJob } from './commands/job.js';
import { registerWorkers } from './commands/workers.js';
import { registerServe } from './commands/serve.js';

const program = new Command();
program
  .name('hodei')
  .description(
    'Hodei Jobs: queue a command, run it on an on-demand worker, see everything that happened',
  )
  .option('--url <url>', 'server address (or HODEI_URL)')
  .enablePositionalOptions(false)
  .exitOverride()
  .configureOutput({ writeErr: (text) => err(text.trimEnd()) });

const url = () =>
  (program.opts<{ url?: string }>().url ?? process.env.HODEI_URL ?? DEFAULT_URL).replace(/\/$/, '');
registerServe(program);
registerRun(program, url);
registerJob(program, url);
registerWorkers(program, url);
for (const command of program.commands) {
  command.exitOverride();
  for (const sub of command.commands) sub.exitOverride();
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else if (error instanceof CliError) {
    err(error.message);
    process.exitCode = error.exitCode;
  } else {
    err(`hodei: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
