// What `hodei worker` does: the worker agent a provider starts with HODEI_URL and HODEI_WORKER_ID
// (and, for an https:// server, HODEI_CA) in its environment and its one-time password as the
// first line of its stdin (never the environment: see otp-input.ts). Shared by the CLI command and
// by dist/worker.cjs, the one-file bundle bin/hodei.js runs for a bare `hodei worker` so a cold
// start does not pay for loading the CLI and ~150 module files (decision 0022).
import { usageError } from '../cli/cli-error.js';
import type { CliContext } from '../cli/context.js';
import { createLogger } from '../shared/logger.js';
import { readPemFile } from '../shared/pem.js';
import { readOtpLine } from './otp-input.js';
import { runAgent } from './run-agent.js';

const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;
/** A provider writes the OTP as soon as it starts the worker: 10 s means something is wrong. */
const OTP_WAIT_MS = 10_000;

/** Runs the agent until it ends and exits the process with its code; a CliError for bad input. */
export async function runWorkerCommand(ctx: CliContext): Promise<void> {
  const serverUrl = ctx.givenUrl();
  const workerId = process.env.HODEI_WORKER_ID?.trim();
  const missing = [
    serverUrl ? undefined : 'HODEI_URL',
    workerId ? undefined : 'HODEI_WORKER_ID',
  ].filter((name) => name !== undefined);
  if (!serverUrl || !workerId) {
    throw usageError(
      `the worker needs ${missing.join(', ')} in its environment (the provider that starts a worker sets them)`,
    );
  }
  const caFile = ctx.ca();
  let ca: { pem: string; file: string } | undefined;
  if (caFile && serverUrl.startsWith('https:')) {
    try {
      ca = { pem: readPemFile(caFile.source, caFile.file, 'certificate'), file: caFile.file };
    } catch (error) {
      throw usageError(error instanceof Error ? error.message : String(error));
    }
  }
  const input = await readOtpLine(process.stdin, OTP_WAIT_MS);
  if ('problem' in input) {
    throw usageError(
      `the worker reads its one-time password from the first line of stdin (the provider that starts a worker writes it): ${input.problem}`,
    );
  }
  const { otp } = input;
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
    traceparent: process.env.TRACEPARENT,
    ca,
  });
  process.exit(code);
}
