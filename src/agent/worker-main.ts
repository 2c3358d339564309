// The entry point of dist/worker.cjs: a bare `hodei worker` (what providers start) with its
// settings from the environment only, bundled into one file by `npm run build` (decision 0022)
// and loaded by bin/hodei.js with a code cache made at build time (decision 0024). Failures end
// the same way as through the CLI: one sentence on stderr, exit 2 for bad input.
import { CliError, EXIT_ERROR } from '../cli/cli-error.js';
import { createContext } from '../cli/context.js';
import { exitQuietlyOnClosedPipe, say } from '../cli/output.js';
import { runWorkerCommand } from './worker-command.js';

/** Runs the worker; the bundle calls it when run directly, bin/hodei.js after loading it. */
export async function main(): Promise<void> {
  exitQuietlyOnClosedPipe();
  try {
    await runWorkerCommand(createContext(() => undefined, process.env));
  } catch (error) {
    if (error instanceof CliError) {
      say(error.message);
      process.exitCode = error.exitCode;
    } else {
      say(`unexpected error: ${error instanceof Error ? error.message : String(error)}`);
      process.exitCode = EXIT_ERROR;
    }
  }
}
