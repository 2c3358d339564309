// The worker agent (`hodei worker`): registers once with its one-time password, opens one
// bidirectional stream, heartbeats, runs one job at a time and reports it. Crash-only (DESIGN §3
// rule 4): when the stream ends or fails the agent kills its job and returns non-zero; it never
// reconnects (the control plane replaces it with a new worker). Imports stay light: this module
// is on the cold-start path.
import { hostname } from 'node:os';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { RunOutcome, type RunJob, type CancelRun } from '../gen/hodei/v1/worker_pb.js';
import type { Logger } from '../shared/logger.js';
import { errorMessage } from '../shared/errors.js';
import { describeTlsFailure } from '../shared/tls-trust.js';
import { createAgentConnection } from './agent-connection.js';
import { startJobRun, type JobRun } from './job-run.js';
import { onSpawnHelperLost, prepareSpawnHelper } from './spawn-helper.js';

export interface AgentOptions {
  serverUrl: string;
  workerId: string;
  otp: string;
  logger: Logger;
  /** Aborted on SIGTERM/SIGINT: kill the job, close the stream, resolve 0. */
  signal?: AbortSignal;
  /** The provisioning correlation id (HODEI_CORRELATION_ID), sent as x-correlation-id. */
  correlationId?: string;
  /** PEM CA bundle that verifies an https:// server (from HODEI_CA), and its file for messages. */
  ca?: { pem: string; file: string };
  /** The span that started this worker (TRACEPARENT), sent back as the traceparent header. */
  traceparent?: string;
}

/** Exit codes runAgent resolves with. */
export const AGENT_EXIT = {
  /** Stopped on request (the AbortSignal). */
  STOPPED: 0,
  /** Register refused or the control plane unreachable. */
  REGISTRATION_FAILED: 1,
  /** The stream ended or failed: this worker is lost for good. */
  STREAM_LOST: 2,
} as const;

export const AGENT_VERSION = '0.1.0';
const DEFAULT_HEARTBEAT_MS = 2000;
const MIN_HEARTBEAT_MS = 100;
/** How long the agent waits for a killed job's tree to be reaped before it resolves. */
const KILL_WAIT_MS = 2000;
/** Job/attempt pairs already finished here, so a redelivered RunJob does not run twice. */
const FINISHED_MEMORY = 256;

const runKey = (jobId: string, attempt: number) => `${jobId}#${attempt}`;

export async function runAgent(options: AgentOptions): Promise<number> {
  const { workerId, signal } = options;
  const logger = options.logger.child({ workerId });
  if (signal?.aborted) return AGENT_EXIT.STOPPED;
  const connection = createAgentConnection(
    options.serverUrl,
    options.correlationId,
    options.ca?.pem,
    options.traceparent,
  );

  // Started while the agent registers, so that the first job does not wait for perl.
  prepareSpawnHelper();
  let session;
  try {
    session = await connection.register(
      {
        workerId,
        otp: options.otp,
        hostname: hostname(),
        pid: process.pid,
        version: AGENT_VERSION,
      },
      signal,
    );
  } catch (error) {
    connection.close();
    if (signal?.aborted) return AGENT_EXIT.STOPPED;
    const tls = describeTlsFailure(error, options.serverUrl, options.ca?.file);
    logger.error({ error: tls ?? errorMessage(error) }, 'registration failed; exiting');
    return AGENT_EXIT.REGISTRATION_FAILED;
  }

  let current: JobRun | undefined;
  const finished: string[] = [];

  function onRun(job: RunJob): void {
    const key = runKey(job.jobId, job.attempt);
    if (current && runKey(current.jobId, current.attempt) === key) {
      logger.debug({ jobId: job.jobId, attempt: job.attempt }, 'duplicate RunJob ignored');
      return;
    }
    if (current) {
      logger.warn(
        { jobId: job.jobId, busyWith: current.jobId },
        'RunJob while another job runs; ignored (one job at a time)',
      );
      return;
    }
    if (finished.includes(key)) {
      logger.warn({ jobId: job.jobId, attempt: job.attempt }, 'RunJob for a finished run ignored');
      return;
    }
    let run: JobRun;
    try {
      run = startJobRun(job, { connection, logger });
    } catch (error) {
      // Nothing a job asks for may end the agent: whatever went wrong is this job's failure.
      logger.error({ jobId: job.jobId, error: errorMessage(error) }, 'could not start the job');
      const ref = { jobId: job.jobId, attempt: job.attempt };
      connection.send({ case: 'ack', value: ref });
      connection.send({
        case: 'result',
        value: {
          ...ref,
          outcome: RunOutcome.START_FAILED,
          exitCode: 126,
          error: `the worker could not start the job: ${errorMessage(error)}`,
        },
      });
      finished.push(key);
      return;
    }
    current = run;
    void run.done.then(() => {
      if (current === run) current = undefined;
      finished.push(key);
      if (finished.length > FINISHED_MEMORY) finished.shift();
    });
  }

  function onCancel(cancel: CancelRun): void {
    const run = current;
    if (
      !run ||
      run.jobId !== cancel.jobId ||
      (cancel.attempt !== 0 && cancel.attempt !== run.attempt)
    ) {
      logger.debug({ jobId: cancel.jobId }, 'CancelRun for a job not running here ignored');
      return;
    }
    run.cancel();
  }

  // Heartbeats go ahead of waiting output: a busy job never delays them.
  const heartbeat = () =>
    connection.sendUrgent({ case: 'heartbeat', value: { at: timestampFromDate(new Date()) } });
  heartbeat();
  const heartbeatTimer = setInterval(
    heartbeat,
    Math.max(MIN_HEARTBEAT_MS, session.heartbeatIntervalMs || DEFAULT_HEARTBEAT_MS),
  );

  // On abort: kill the job (no result: the lost stream requeues it), end the stream, resolve.
  const stop = () => {
    current?.abandon();
    connection.close();
  };
  signal?.addEventListener('abort', stop, { once: true });
  // The spawn helper is part of this worker: without it the worker is broken, and ends the same
  // way (its job, killed, runs again on another worker).
  let helperLost = false;
  onSpawnHelperLost(() => {
    helperLost = true;
    logger.error({ jobId: current?.jobId }, 'the spawn helper died; exiting');
    stop();
  });

  let exitCode: number = AGENT_EXIT.STREAM_LOST;
  try {
    const messages = connection.open(session.sessionToken);
    logger.info({ provisioningCorrelationId: options.correlationId }, 'registered; stream open');
    for await (const message of messages) {
      if (message.body.case === 'run') onRun(message.body.value);
      else if (message.body.case === 'cancel') onCancel(message.body.value);
    }
    if (!signal?.aborted && !helperLost) {
      logger.error('the control plane closed the stream; exiting');
    }
  } catch (error) {
    if (!signal?.aborted) logger.error({ error: errorMessage(error) }, 'stream failed; exiting');
  } finally {
    clearInterval(heartbeatTimer);
    signal?.removeEventListener('abort', stop);
    onSpawnHelperLost(undefined);
    if (signal?.aborted) exitCode = AGENT_EXIT.STOPPED;
    const last = current;
    stop();
    if (last) await waitAtMost(last.done, KILL_WAIT_MS);
  }
  return exitCode;
}

async function waitAtMost(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise,
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}
