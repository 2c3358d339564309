// `hodei worker`: the worker agent a provider starts (see agent/worker-command.ts). A bare
// `hodei worker` does not come here: bin/hodei.js runs the one-file bundle dist/worker.cjs for it,
// since its start-up counts in the cold-start budget (decision 0022). With flags (`hodei --url U
// worker`) it runs through the CLI and loads only the agent.
import type { Command } from 'commander';
import type { CliContext } from '../context.js';

export function registerWorker(program: Command, ctx: CliContext): void {
  program
    .command('worker')
    .description(
      'run a worker agent (started by a provider; reads HODEI_URL, HODEI_WORKER_ID and its one-time password from the first line of stdin)',
    )
    .action(async () => {
      const { runWorkerCommand } = await import('../../agent/worker-command.js');
      await runWorkerCommand(ctx);
    });
}
