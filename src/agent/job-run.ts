// One job on this worker, from RunJob to RunResult: acknowledge at once, run the command, stream
// its output in batches, and report how it ended (after its last log line). A job abandoned
// because the agent is going away reports nothing: the control plane treats the lost stream as a
// lost worker and requeues the job, where a CANCELLED result would end it for good.
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { LogStream } from '../gen/hodei/v1/job_pb.js';
import { RunOutcome, type RunJob } from '../gen/hodei/v1/worker_pb.js';
import type { Logger } from '../shared/logger.js';
import type { WorkerMessageBody } from './agent-connection.js';
import { runCommand, type RunEnd, type RunningCommand } from './command-runner.js';
import { durationMs } from './duration.js';
import { createLogBatcher } from './log-batcher.js';

export interface JobRun {
  readonly jobId: string;
  readonly attempt: number;
  readonly pid: number | undefined;
  /** A CancelRun: stop the tree (SIGTERM, then SIGKILL) and report CANCELLED. */
  cancel(): void;
  /** The agent is going away: SIGKILL the tree and report nothing. */
  abandon(): void;
  /** Resolves when the command has ended and its result (if any) is queued. */
  readonly done: Promise<RunEnd>;
}

export interface JobRunDeps {
  send: (body: WorkerMessageBody) => void;
  logger: Logger;
}

const OUTCOME: Record<RunEnd['outcome'], RunOutcome> = {
  EXITED: RunOutcome.EXITED,
  TIMED_OUT: RunOutcome.TIMED_OUT,
  CANCELLED: RunOutcome.CANCELLED,
  START_FAILED: RunOutcome.START_FAILED,
};

/** The agent's environment for the job, minus its one-time password (spent, but still a secret). */
export function jobEnvironment(
  overrides: Record<string, string>,
): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env, ...overrides };
  delete env.HODEI_WORKER_OTP;
  return env;
}

export function startJobRun(job: RunJob, deps: JobRunDeps): JobRun {
  const { send } = deps;
  const ref = { jobId: job.jobId, attempt: job.attempt };
  const log = deps.logger.child({
    jobId: job.jobId,
    attempt: job.attempt,
    correlationId: job.correlationId,
  });
  const spec = job.spec;
  let abandoned = false;

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

  send({ case: 'ack', value: ref });
  const command: RunningCommand = runCommand(
    {
      command: spec?.command ?? '',
      args: spec?.args ?? [],
      env: jobEnvironment(spec?.env ?? {}),
      workingDir: spec?.workingDir ?? '',
      timeoutMs: durationMs(spec?.timeout),
    },
    (stream, line) => batcher.add({ stream, line, at: new Date() }),
  );
  log.info({ command: spec?.command, pid: command.pid }, 'job started');

  const done = command.done.then((end) => {
    if (abandoned) {
      batcher.discard();
      log.warn({ outcome: end.outcome }, 'job killed: the agent is going away');
      return end;
    }
    batcher.flush();
    send({
      case: 'result',
      value: {
        ...ref,
        outcome: OUTCOME[end.outcome],
        exitCode: end.exitCode,
        error: end.outcome === 'START_FAILED' ? end.error : '',
        signal: end.outcome === 'START_FAILED' ? '' : end.signal,
      },
    });
    if (end.outcome === 'START_FAILED') log.warn({ error: end.error }, 'job could not start');
    else
      log.info({ outcome: end.outcome, exitCode: end.exitCode, signal: end.signal }, 'job ended');
    return end;
  });

  return {
    ...ref,
    pid: command.pid,
    cancel() {
      log.info('cancelling job');
      command.cancel();
    },
    abandon() {
      abandoned = true;
      command.kill();
    },
    done,
  };
}
