// One worker's stream (WorkerAgentService.Connect), server side: the commands sent down to it and
// what it reports up. Frames are read one at a time: the next is read only once the last is
// handled (its output stored), so a worker never sends faster than storage keeps up (HTTP/2
// flow control holds it), and the server holds one frame per worker at most. Every frame counts
// as a sign of life the moment it arrives (worker-liveness.ts). A worker may report only on the
// run it was sent here; anything else is ignored. Crash-only (invariant 4): when the stream
// ends, the worker is lost for good.
import { create } from '@bufbuild/protobuf';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import {
  ServerMessageSchema,
  RunOutcome,
  type ServerMessage,
  type WorkerMessage,
  type RunOutput as RunOutputMessage,
} from '../gen/hodei/v1/worker_pb.js';
import { LogStream } from '../gen/hodei/v1/job_pb.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { errorMessage } from '../shared/errors.js';
import { findWorker } from '../workers/worker-sql.js';
import type { Db } from '../db/db.js';
import type { WorkerReports, RunOutcome as Outcome } from '../workers/worker-reports.js';
import type { WorkerSessions, WorkerSession } from '../workers/worker-sessions.js';
import type { WorkerMonitor } from '../workers/worker-monitor.js';
import type { WorkerLiveness } from '../workers/worker-liveness.js';
import { createRunOutput, type RunOutput } from '../workers/run-output.js';
import { createAsyncQueue } from '../shared/async-queue.js';
import { isTransientDbError, retryDelayMs } from '../db/transient-error.js';
import { specToPb } from './convert.js';
import { ROOT_CONTEXT, SpanKind, context, trace, type Span } from '@opentelemetry/api';
import {
  contextFromTraceparent,
  endSpan,
  inSpan,
  startSpan,
  traceparentFor,
} from '../telemetry/tracing.js';

export interface WorkerStreamDeps {
  db: Db;
  reports: WorkerReports;
  sessions: WorkerSessions;
  monitor: WorkerMonitor;
  liveness: WorkerLiveness;
  logger: Logger;
  metrics?: Metrics;
  /** Most output bytes kept per job attempt (the rest is dropped, with a marker line). */
  maxJobOutputBytes: number;
  /** False while the server shuts down: streams closing then are not worker losses to report. */
  isServing(): boolean;
}

const OUTCOMES: Record<RunOutcome, Outcome> = {
  [RunOutcome.UNSPECIFIED]: 'START_FAILED',
  [RunOutcome.EXITED]: 'EXITED',
  [RunOutcome.TIMED_OUT]: 'TIMED_OUT',
  [RunOutcome.CANCELLED]: 'CANCELLED',
  [RunOutcome.START_FAILED]: 'START_FAILED',
};

/** How long a closed stream waits for the frames already read (last output, result). */
const LAST_FRAMES_WAIT_MS = 1000;

export async function* serveWorkerStream(
  workerId: string,
  requests: AsyncIterable<WorkerMessage>,
  signal: AbortSignal,
  deps: WorkerStreamDeps,
  started: { traceparent?: string; correlationId?: string } = {},
): AsyncGenerator<ServerMessage> {
  const { reports, liveness } = deps;
  const log = deps.logger.child({ workerId });
  const outgoing = createAsyncQueue<ServerMessage>();
  // The run sent on this stream (one at a time); reports about any other run are ignored.
  let run: RunOutput | undefined;
  const ignored = new Set<string>();
  // The run's span (from the ack to the result), under the span that sent the RUN.
  let runTrace: { key: string; parent: string; span?: Span } | undefined;
  const runKey = (jobId: string, attempt: number) => `${jobId}#${attempt}`;

  const session: WorkerSession = {
    workerId,
    sendRun(job, secrets) {
      if (run?.jobId !== job.id || run.attempt !== job.attempt) {
        run = createRunOutput(
          { jobId: job.id, attempt: job.attempt, correlationId: job.correlationId },
          deps.maxJobOutputBytes,
        );
      }
      const traceparent = traceparentFor(job.correlationId);
      runTrace = { key: runKey(job.id, job.attempt), parent: traceparent };
      outgoing.push(
        create(ServerMessageSchema, {
          body: {
            case: 'run',
            value: {
              jobId: job.id,
              attempt: job.attempt,
              correlationId: job.correlationId,
              traceparent,
              // The only message that carries secret values: to the worker that runs the job.
              spec: specToPb(job, secrets),
            },
          },
        }),
      );
    },
    sendCancel(jobId, attempt) {
      outgoing.push(
        create(ServerMessageSchema, { body: { case: 'cancel', value: { jobId, attempt } } }),
      );
    },
    close() {
      outgoing.close();
    },
  };

  if (!deps.sessions.tryAdd(session)) {
    log.warn('a second stream for a worker that has one was refused');
    throw new ConnectError(
      `worker ${workerId} already has a live stream (one stream per worker)`,
      Code.AlreadyExists,
    );
  }
  // The session exists before the worker turns READY, so a saga that picks it can reach it.
  const activated = await inSpan(
    'worker stream opened',
    {
      kind: SpanKind.SERVER,
      parent: contextFromTraceparent(started.traceparent, ROOT_CONTEXT),
      correlationId: started.correlationId ?? workerId,
      attributes: { 'hodei.worker_id': workerId },
    },
    () => reports.activate(workerId),
  ).catch((error: unknown) => {
    deps.sessions.remove(session);
    throw error;
  });
  if (!activated) {
    deps.sessions.remove(session);
    const worker = await findWorker(deps.db, workerId);
    throw new ConnectError(
      `worker ${workerId} cannot open a stream: it is ${worker?.state ?? 'unknown'} (one stream per registration)`,
      Code.PermissionDenied,
    );
  }
  liveness.track(workerId);
  log.info('worker stream opened; worker READY');

  /** Logs a warning once per key (a misbehaving worker must not flood the log). */
  function warnOnce(key: string, fields: Record<string, unknown>, message: string): void {
    if (ignored.has(key) || ignored.size >= 64) return;
    ignored.add(key);
    log.warn(fields, message);
  }

  /** The run this report is about, or undefined (logged once) when it is not this one. */
  function current(jobId: string, attempt: number, kind: string): RunOutput | undefined {
    if (run && run.jobId === jobId && run.attempt === attempt) return run;
    warnOnce(
      `${kind}:${jobId}:${attempt}`,
      { jobId, attempt, kind },
      `ignored ${kind} for a run not sent on this stream`,
    );
    return undefined;
  }

  /**
   * Runs a database write again, after a pause, while the database is away (restarting, a killed
   * connection) and the stream is still open: the worker waits meanwhile (its frames back up to
   * its job) and counts as alive (it is waiting on us). Every write here may run twice: output
   * parts are stored once, and the ack and the result are guarded state changes.
   */
  async function surely<T>(write: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await write();
      } catch (error) {
        if (!isTransientDbError(error) || signal.aborted || outgoing.closed) throw error;
        if (attempt === 1) {
          log.warn(
            { error: errorMessage(error) },
            "database unavailable; holding the worker's reports until it is back",
          );
        }
        await new Promise((resolve) => setTimeout(resolve, retryDelayMs(attempt)));
      }
    }
  }

  /** Stores the dropped-output marker of the run, if it has one. */
  async function storeMarker(target: RunOutput): Promise<void> {
    const marker = target.marker();
    if (marker) {
      await surely(() => reports.storeOutput(workerId, target, [marker], { fromPlatform: true }));
    }
  }

  async function storeOutput(message: RunOutputMessage): Promise<void> {
    const target = current(message.jobId, message.attempt, 'output');
    if (!target) return;
    const { keep, dropped } = target.admit(
      message.chunks.map((c) => ({
        stream: c.stream === LogStream.STDERR ? 'stderr' : 'stdout',
        data: c.data,
        at: c.at ? timestampDate(c.at) : new Date(),
      })),
    );
    if (dropped > 0) deps.metrics?.outputDroppedBytes.inc(dropped);
    if (keep.length === 0) return;
    const bytes = keep.reduce((sum, c) => sum + c.data.length, 0);
    if (await surely(() => reports.storeOutput(workerId, target, keep))) {
      deps.metrics?.outputStoredBytes.inc(bytes);
    } else {
      target.refund(bytes);
      warnOnce(
        `over:${target.jobId}:${target.attempt}`,
        { jobId: target.jobId, attempt: target.attempt },
        'output refused: the attempt no longer runs on this worker (requeued, cancelled or ended)',
      );
    }
  }

  async function handle(message: WorkerMessage): Promise<void> {
    const body = message.body;
    switch (body.case) {
      case 'heartbeat':
        return; // its arrival was the point
      case 'ack': {
        const target = current(body.value.jobId, body.value.attempt, 'ack');
        if (!target) return;
        const traced =
          runTrace?.key === runKey(target.jobId, target.attempt) ? runTrace : undefined;
        if (traced && !traced.span) {
          traced.span = startSpan('run', {
            kind: SpanKind.CONSUMER,
            parent: contextFromTraceparent(traced.parent, ROOT_CONTEXT),
            attributes: {
              'hodei.job_id': target.jobId,
              'hodei.attempt': target.attempt,
              'hodei.worker_id': workerId,
              'hodei.correlation_id': target.correlationId,
            },
          });
        }
        // JobStarted is written under the run's span.
        const inRun = traced?.span ? trace.setSpan(ROOT_CONTEXT, traced.span) : ROOT_CONTEXT;
        await context.with(inRun, () => surely(() => reports.acknowledge(workerId, target)));
        return;
      }
      case 'output':
        return storeOutput(body.value);
      case 'result': {
        const target = current(body.value.jobId, body.value.attempt, 'result');
        if (!target) return;
        await storeMarker(target);
        const report = {
          jobId: target.jobId,
          attempt: target.attempt,
          outcome: OUTCOMES[body.value.outcome],
          exitCode: body.value.exitCode ?? null,
          error: body.value.error,
          correlationId: target.correlationId,
        };
        const traced =
          runTrace?.key === runKey(target.jobId, target.attempt) ? runTrace : undefined;
        const parent = traced?.span
          ? trace.setSpan(ROOT_CONTEXT, traced.span)
          : contextFromTraceparent(traced?.parent, ROOT_CONTEXT);
        await inSpan(
          'result',
          {
            parent,
            correlationId: target.correlationId,
            attributes: {
              'hodei.job_id': report.jobId,
              'hodei.attempt': report.attempt,
              'hodei.outcome': report.outcome,
              ...(report.exitCode === null ? {} : { 'hodei.exit_code': report.exitCode }),
            },
          },
          () => surely(() => reports.recordResult(workerId, report)),
        );
        if (traced?.span) endSpan(traced.span);
        if (traced) runTrace = undefined;
        // Recording the result made the worker READY: a saga may have sent its next run while
        // this awaited. Only the run reported on is done.
        if (run === target) run = undefined;
        return;
      }
      default:
        return;
    }
  }

  const reading = (async () => {
    try {
      for await (const message of requests) {
        liveness.seen(workerId);
        liveness.busy(workerId, true);
        try {
          await handle(message);
        } catch (error) {
          log.error(
            { error: errorMessage(error), kind: message.body.case },
            'could not handle a worker message',
          );
        } finally {
          liveness.busy(workerId, false);
        }
      }
    } catch (error) {
      log.info({ error: errorMessage(error) }, 'worker stream failed');
    } finally {
      outgoing.close();
    }
  })();
  const onAbort = () => outgoing.close();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    yield* outgoing;
  } finally {
    signal.removeEventListener('abort', onAbort);
    deps.sessions.remove(session);
    outgoing.close();
    log.info('worker stream closed');
    // Let what the worker sent before it went (its last output and result) be recorded first.
    await Promise.race([
      reading,
      new Promise((resolve) => setTimeout(resolve, LAST_FRAMES_WAIT_MS).unref()),
    ]);
    liveness.forget(workerId);
    // A run still open when its stream ended: its span ends as the worker was lost.
    if (runTrace?.span) endSpan(runTrace.span, new Error('worker stream closed before a result'));
    runTrace = undefined;
    if (deps.isServing()) {
      if (run) await storeMarker(run).catch(() => undefined);
      await deps.monitor.workerLost(workerId, 'stream closed').catch((error: unknown) => {
        log.error({ error: errorMessage(error) }, 'kill-switch failed after stream closed');
      });
    }
  }
}
