// The worker agent (`hodei worker`): registers once with its one-time password, opens one
// bidirectional stream, heartbeats, runs one job at a time and reports it. Crash-only: when the
// stream ends the agent kills its job and exits; it never reconnects (the control plane replaces
// it with a new worker).
import { hostname } from 'node:os';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import {
  WorkerAgentService,
  WorkerMessageSchema,
  RunOutcome,
  type RunJob,
  type WorkerMessage,
} from '../gen/hodei/v1/worker_pb.js';
import { LogStream } from '../gen/hodei/v1/job_pb.js';
import type { Logger } from '../shared/logger.js';
import { errorMessage } from '../shared/errors.js';
import { createAsyncQueue } from '../shared/async-queue.js';
import { createLogBatcher } from './log-batcher.js';
import { durationMs } from './duration.js';
import { runCommand, type RunEnd, type RunningCommand } from './command-runner.js';

export interface AgentOptions {
  serverUrl: string;
  workerId: string;
  otp: string;
  logger: Logger;
  signal?: AbortSignal;
}

const OUTCOME: Record<RunEnd['outcome'], RunOutcome> = {
  EXITED: RunOutcome.EXITED,
  TIMED_OUT: RunOutcome.TIMED_OUT,
  CANCELLED: RunOutcome.CANCELLED,
  START_FAILED: RunOutcome.START_FAILED,
};

export async function runAgent(options: AgentOptions): Promise<number> {
  const { workerId, logger } = options;
  const client = createClient(
    WorkerAgentService,
    createGrpcTransport({ baseUrl: options.serverUrl }),
  );

  let session;
  try {
    session = await client.register(
      { workerId, otp: options.otp, hostname: hostname(), pid: process.pid, version: '0.1.0' },
      { signal: options.signal },
    );
  } catch (error) {
    logger.error({ workerId, error: errorMessage(error) }, 'registration refused; exiting');
    return 1;
  }

  const outgoing = createAsyncQueue<WorkerMessage>();
  type Body = MessageInitShape<typeof WorkerMessageSchema>['body'];
  const send = (body: Body) => outgoing.push(create(WorkerMessageSchema, { body }));
  let current: { job: RunJob; command: RunningCommand } | undefined;

  const heartbeat = () => send({ case: 'heartbeat', value: { at: timestampFromDate(new Date()) } });
  heartbeat();
  const heartbeatTimer = setInterval(heartbeat, Math.max(100, session.heartbeatIntervalMs || 2000));

  function startJob(job: RunJob): void {
    if (current) {
      if (current.job.jobId !== job.jobId || current.job.attempt !== job.attempt) {
        logger.warn(
          { workerId, jobId: job.jobId, busyWith: current.job.jobId },
          'RUN while busy; ignored',
        );
      }
      return; // a duplicate RUN of the job in progress (at-least-once upstream)
    }
    const log = logger.child({ workerId, jobId: job.jobId, correlationId: job.correlationId });
    const ref = { jobId: job.jobId, attempt: job.attempt };
    const batcher = createLogBatcher((lines) =>
      send({
        case: 'logs',
        value: {
          ...ref,
          lines: lines.map((l) => ({
            stream: l.stream === 'stderr' ? LogStream.STDERR : LogStream.STDOUT,
            line: l.line,
            at: timestampFromDate(l.at),
          })),
        },
      }),
    );
    const spec = job.spec;
    const command = runCommand(
      {
        command: spec?.command ?? '',
        args: spec?.args ?? [],
        env: spec?.env ?? {},
        workingDir: spec?.workingDir ?? '',
        timeoutMs: durationMs(spec?.timeout),
      },
      (line) => batcher.add(line),
    );
    current = { job, command };
    send({ case: 'ack', value: ref });
    log.info({ command: spec?.command, pid: command.pid }, 'job started');
    void command.done.then((end) => {
      batcher.flush();
      send({
        case: 'result',
        value: {
          ...ref,
          outcome: OUTCOME[end.outcome],
          exitCode: end.exitCode ?? undefined,
          error: 'error' in end ? end.error : '',
          signal: 'signal' in end ? end.signal : '',
        },
      });
      log.info({ outcome: end.outcome, exitCode: end.exitCode }, 'job ended');
      current = undefined;
    });
  }

  const abort = () => outgoing.close();
  options.signal?.addEventListener('abort', abort, { once: true });
  let exitCode = 0;
  try {
    const responses = client.connect(outgoing, {
      headers: { 'x-hodei-session': session.sessionToken },
    });
    logger.info({ workerId }, 'worker registered and connected');
    for await (const message of responses) {
      const body = message.body;
      if (body.case === 'run') startJob(body.value);
      else if (body.case === 'cancel' && current?.job.jobId === body.value.jobId)
        current.command.cancel();
    }
    logger.warn({ workerId }, 'the control plane closed the stream; exiting');
    exitCode = options.signal?.aborted ? 0 : 1;
  } catch (error) {
    exitCode = options.signal?.aborted ? 0 : 1;
    if (!options.signal?.aborted)
      logger.warn({ workerId, error: errorMessage(error) }, 'stream failed; exiting');
  } finally {
    clearInterval(heartbeatTimer);
    options.signal?.removeEventListener('abort', abort);
    outgoing.close();
    current?.command.kill();
  }
  return exitCode;
}
