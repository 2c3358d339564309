// One job on this worker, from RunJob to RunResult: acknowledge at once, run the command, send its
// output in batches as the control plane takes them, and report how it ended (after its last
// byte). When the control plane falls behind, the agent stops reading the job's pipes until the
// backlog drains, so neither the agent's memory nor the server's grows with the output. A job
// abandoned because the agent is going away reports nothing: the control plane treats the lost
// stream as a lost worker and requeues the job, where a CANCELLED result would end it for good.
// The job's secrets join its environment, and every value is masked in its output and error
// before anything is sent (secret-redactor.ts).
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { LogStream } from '../gen/hodei/v1/job_pb.js';
import { RunOutcome, type RunJob } from '../gen/hodei/v1/worker_pb.js';
import type { Logger } from '../shared/logger.js';
import type { AgentConnection } from './agent-connection.js';
import { runCommand, type RunEnd, type RunningCommand } from './command-runner.js';
import { durationMs } from './duration.js';
import { createOutputBatcher, type OutputStream } from './output-batcher.js';
import { createStreamRedactor, redactText } from './secret-redactor.js';
import { shortName } from './start-failure.js';

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
  connection: Pick<AgentConnection, 'send' | 'sendOutput' | 'backlogBytes' | 'onBacklogBelow'>;
  logger: Logger;
}

/** Output backlog at which the agent stops reading the job's pipes, and where it resumes. */
export const PAUSE_BACKLOG_BYTES = 1024 * 1024;
export const RESUME_BACKLOG_BYTES = 256 * 1024;

const OUTCOME: Record<RunEnd['outcome'], RunOutcome> = {
  EXITED: RunOutcome.EXITED,
  TIMED_OUT: RunOutcome.TIMED_OUT,
  CANCELLED: RunOutcome.CANCELLED,
  START_FAILED: RunOutcome.START_FAILED,
};

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * A job's whole environment (DESIGN §11): a small documented base taken from the agent (PATH,
 * HOME, LANG, TZ), the job's own `env` and secrets over it (`specEnv`), and the platform's
 * variables last. Nothing else of the agent's or the server's environment reaches the job.
 */
export function jobEnvironment(
  job: { jobId: string; attempt: number; correlationId: string },
  specEnv: Readonly<Record<string, string>>,
  agentEnv: Readonly<Record<string, string | undefined>> = process.env,
): Record<string, string> {
  const base: Record<string, string> = {
    PATH: agentEnv.PATH || DEFAULT_PATH,
    HOME: agentEnv.HOME || '/',
    LANG: agentEnv.LANG || 'C.UTF-8',
  };
  if (agentEnv.TZ) base.TZ = agentEnv.TZ;
  return {
    ...base,
    ...specEnv,
    HODEI_JOB_ID: job.jobId,
    HODEI_ATTEMPT: String(job.attempt),
    HODEI_CORRELATION_ID: job.correlationId,
  };
}

export function startJobRun(job: RunJob, deps: JobRunDeps): JobRun {
  const { connection } = deps;
  const ref = { jobId: job.jobId, attempt: job.attempt };
  const traceId = /^00-([0-9a-f]{32})-/.exec(job.traceparent)?.[1];
  const log = deps.logger.child({
    jobId: job.jobId,
    attempt: job.attempt,
    correlationId: job.correlationId,
    ...(traceId ? { trace_id: traceId } : {}),
  });
  const spec = job.spec;
  const secretValues = Object.values(spec?.secrets ?? {});
  // One per pipe: a value is looked for within each stream's own bytes.
  const redactors = {
    stdout: createStreamRedactor(secretValues),
    stderr: createStreamRedactor(secretValues),
  };
  let abandoned = false;
  let stopResuming: (() => void) | undefined;

  const batcher = createOutputBatcher((chunks, bytes) => {
    connection.sendOutput(
      {
        case: 'output',
        value: {
          ...ref,
          chunks: chunks.map((c) => ({
            stream: c.stream === 'stderr' ? LogStream.STDERR : LogStream.STDOUT,
            data: c.data,
            at: timestampFromDate(c.at),
          })),
        },
      },
      bytes,
    );
    if (!stopResuming && connection.backlogBytes() >= PAUSE_BACKLOG_BYTES) {
      // Output only arrives once runCommand below has returned, so `command` is set by now.
      command.pause();
      stopResuming = connection.onBacklogBelow(RESUME_BACKLOG_BYTES, () => {
        stopResuming?.();
        stopResuming = undefined;
        command.resume();
      });
    }
  });

  function add(stream: OutputStream, data: Buffer): void {
    const masked = redactors[stream]?.push(data) ?? data;
    if (masked.length > 0) batcher.add(stream, masked);
  }

  connection.send({ case: 'ack', value: ref });
  const command: RunningCommand = runCommand(
    {
      command: spec?.command ?? '',
      args: spec?.args ?? [],
      env: jobEnvironment(job, { ...spec?.env, ...spec?.secrets }),
      workingDir: spec?.workingDir ?? '',
      timeoutMs: durationMs(spec?.timeout),
    },
    (stream, data) => add(stream, data),
  );
  void command.started.then((jobPid) => {
    if (jobPid !== undefined)
      log.info({ command: shortName(spec?.command ?? ''), jobPid }, 'job started');
  });

  const done = command.done.then((end) => {
    stopResuming?.();
    if (abandoned) {
      batcher.discard();
      log.warn({ outcome: end.outcome }, 'job killed: the agent is going away');
      return end;
    }
    // What each redactor held back for a value that might have gone on.
    for (const stream of ['stdout', 'stderr'] as const) {
      const rest = redactors[stream]?.end();
      if (rest && rest.length > 0) batcher.add(stream, rest);
    }
    batcher.flush();
    const error = end.outcome === 'START_FAILED' ? redactText(end.error, secretValues) : '';
    connection.send({
      case: 'result',
      value: {
        ...ref,
        outcome: OUTCOME[end.outcome],
        exitCode: end.exitCode,
        error,
        signal: end.outcome === 'START_FAILED' ? '' : end.signal,
      },
    });
    if (end.outcome === 'START_FAILED') log.warn({ error }, 'job could not start');
    else
      log.info({ outcome: end.outcome, exitCode: end.exitCode, signal: end.signal }, 'job ended');
    return end;
  });

  return {
    ...ref,
    get pid() {
      return command.pid;
    },
    cancel() {
      log.info('cancelling job');
      command.cancel();
    },
    abandon() {
      abandoned = true;
      command.resume();
      command.kill();
    },
    done,
  };
}
