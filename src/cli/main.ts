// The `hodei` command line: parses the arguments, runs one command, and turns any failure into
// one sentence on stderr and an exit code (1 for errors, 2 for usage errors), never a stack
// trace. Only commander and the command declarations load here; each command imports what it
// needs when it runs, so `hodei --help` and `hodei worker` start fast.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { CliError, EXIT_ERROR, EXIT_USAGE } from './cli-error.js';
import { createContext, DEFAULT_URL } from './context.js';
import { exitQuietlyOnClosedPipe, say, write } from './output.js';
import { registerJob } from './commands/job.js';
import { registerRun } from './commands/run.js';
import { registerServer } from './commands/server.js';
import { registerWorker } from './commands/worker.js';
import { registerWorkers } from './commands/workers.js';
import { registerDlq } from './commands/dlq.js';
import { registerToken } from './commands/token.js';
import { registerTrace } from './commands/trace.js';

function packageVersion(): string {
  try {
    const pkg = new URL('../../package.json', import.meta.url);
    return (JSON.parse(readFileSync(pkg, 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

const program = new Command('hodei')
  .description('Hodei Jobs: queue a command, run it on an on-demand worker, see what happened')
  .version(packageVersion(), '-V, --version', 'print the version')
  .helpOption('-h, --help', 'show help')
  .option('--url <url>', `server address (default: HODEI_URL, else ${DEFAULT_URL})`)
  .option('--token <token>', 'API token for a server with auth on (default: HODEI_TOKEN)')
  .option(
    '--ca <file>',
    'PEM CA bundle that verifies an https:// server (default: HODEI_CA, else the system store)',
  )
  // Settings below are copied to each command declared afterwards.
  .exitOverride()
  .showHelpAfterError('(add --help for usage)')
  .configureOutput({
    writeOut: (text) => write('stdout', text),
    writeErr: (text) => write('stderr', text),
    outputError: (text, put) => put(text.replace(/^error: /, 'hodei: ')),
  })
  .addHelpText(
    'after',
    `
Start a server with "npx hodei dev", then: hodei run -- echo hello`,
  );

const ctx = createContext(
  () => program.opts<{ url?: string }>().url,
  process.env,
  () => program.opts<{ token?: string }>().token,
  () => program.opts<{ ca?: string }>().ca,
);
registerServer(program);
registerWorker(program, ctx);
registerRun(program, ctx);
registerJob(program, ctx);
registerWorkers(program, ctx);
registerDlq(program, ctx);
registerToken(program, ctx);
registerTrace(program, ctx);

function exitCodeFor(error: unknown): number {
  if (error instanceof CommanderError) {
    // Commander has printed the message (or the help/version text) already.
    return error.exitCode === 0 ? 0 : EXIT_USAGE;
  }
  if (error instanceof CliError) {
    say(error.message);
    return error.exitCode;
  }
  say(`unexpected error: ${error instanceof Error ? error.message : String(error)}`);
  return EXIT_ERROR;
}

exitQuietlyOnClosedPipe();
try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.exitCode = exitCodeFor(error);
}
