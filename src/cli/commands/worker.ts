// `hodei worker`: the worker agent a provider starts with HODEI_URL, HODEI_WORKER_ID and
// HODEI_WORKER_OTP. Its start-up counts in the cold-start budget, so it loads only the agent.
import type { Command } from 'commander';
import { usageError } from '../cli-error.js';
import type { CliContext } from '../context.js';

const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

export function registerWorker(program: Command, ctx: CliContext): void {
  program
    .command('worker')
    .description(
      'run a worker agent (started by a provider; reads HODEI_URL, HODEI_WORKER_ID, HODEI_WORKER_OTP)',
    )
    .action(async () => {
      const serverUrl = ctx.givenUrl();
      const workerId = process.env.HODEI_WORKER_ID?.trim();
      const otp = process.env.HODEI_WORKER_OTP?.trim();
      const missing = [
        serverUrl ? undefined : 'HODEI_URL',
        workerId ? undefined : 'HODEI_WORKER_ID',
        otp ? undefined : 'HODEI_WORKER_OTP',
      ].filter((name) => name !== undefined);
      if (!serverUrl || !workerId || !otp) {
        throw usageError(
          `the worker needs ${missing.join(', ')} in its environment (the provider that starts a worker sets them)`,
        );
      }
      const [{ createLogger }, { runAgent }] = await Promise.all([
        import('../../shared/logger.js'),
        import('../../agent/run-agent.js'),
      ]);
      const controller = new AbortController();
      const onSignal = (signal: keyof typeof SIGNAL_EXIT) => {
        if (controller.signal.aborted) process.exit(SIGNAL_EXIT[signal]);
        controller.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const logger = createLogger({ level: process.env.HODEI_LOG_LEVEL ?? 'info' });
      const code = await runAgent({
        serverUrl,
        workerId,
        otp,
        logger,
        signal: controller.signal,
        correlationId: process.env.HODEI_CORRELATION_ID,
      });
      process.exit(code);
    });
}
