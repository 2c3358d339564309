// WorkerAgentService: registration with a one-time password, then one bidirectional stream per
// worker. Crash-only (invariant 4): when the stream ends, the worker is lost for good.
import { create } from '@bufbuild/protobuf';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import type { WorkerAgentService } from '../gen/hodei/v1/worker_pb.js';
import {
  RegisterResponseSchema,
  ServerMessageSchema,
  RunOutcome,
  type ServerMessage,
  type WorkerMessage,
} from '../gen/hodei/v1/worker_pb.js';
import { LogStream } from '../gen/hodei/v1/job_pb.js';
import type { Db } from '../db/db.js';
import type { Logger } from '../shared/logger.js';
import { InvalidArgumentError, errorMessage } from '../shared/errors.js';
import { isUuid } from '../shared/ids.js';
import { findWorker, recordHeartbeat } from '../workers/worker-sql.js';
import type { WorkerReports, RunOutcome as Outcome } from '../workers/worker-reports.js';
import type { WorkerRegistration } from '../workers/worker-registration.js';
import type { WorkerSessions, WorkerSession } from '../workers/worker-sessions.js';
import type { WorkerMonitor } from '../workers/worker-monitor.js';
import { specToPb } from './convert.js';
import { createAsyncQueue } from '../shared/async-queue.js';
import type { SessionTokens } from './session-token.js';
import { mapErrors } from './error-mapping.js';

export interface WorkerAgentDeps {
  db: Db;
  reports: WorkerReports;
  registration: WorkerRegistration;
  sessions: WorkerSessions;
  monitor: WorkerMonitor;
  tokens: SessionTokens;
  logger: Logger;
  heartbeatIntervalMs: number;
  /** False while the server shuts down: streams closing then are not worker losses to report. */
  isServing(): boolean;
}

export const SESSION_HEADER = 'x-hodei-session';

const OUTCOMES: Record<RunOutcome, Outcome> = {
  [RunOutcome.UNSPECIFIED]: 'START_FAILED',
  [RunOutcome.EXITED]: 'EXITED',
  [RunOutcome.TIMED_OUT]: 'TIMED_OUT',
  [RunOutcome.CANCELLED]: 'CANCELLED',
  [RunOutcome.START_FAILED]: 'START_FAILED',
};

export function workerAgentServiceImpl(
  deps: WorkerAgentDeps,
): ServiceImpl<typeof WorkerAgentService> {
  const { db, reports, logger } = deps;

  async function handleMessage(
    workerId: string,
    message: WorkerMessage,
    correlationIds: Map<string, string>,
  ): Promise<void> {
    const body = message.body;
    switch (body.case) {
      case 'heartbeat':
        await recordHeartbeat(db, workerId);
        return;
      case 'ack': {
        const { jobId, attempt } = body.value;
        const correlationId = correlationIds.get(jobId);
        if (correlationId === undefined) {
          logger.warn(
            { workerId, jobId, attempt },
            'ignored an ack for a job not sent on this stream',
          );
          return;
        }
        await reports.acknowledge(workerId, { jobId, attempt, correlationId });
        return;
      }
      case 'logs':
        await reports.storeLogs(
          body.value.jobId,
          body.value.attempt,
          correlationIds.get(body.value.jobId) ?? '',
          body.value.lines.map((l) => ({
            stream: l.stream === LogStream.STDERR ? 'stderr' : 'stdout',
            line: l.line,
            at: l.at ? timestampDate(l.at) : new Date(),
          })),
        );
        return;
      case 'result':
        await reports.recordResult(workerId, {
          jobId: body.value.jobId,
          attempt: body.value.attempt,
          outcome: OUTCOMES[body.value.outcome],
          exitCode: body.value.exitCode ?? null,
          error: body.value.error,
        });
        correlationIds.delete(body.value.jobId);
        return;
      default:
        return;
    }
  }

  return {
    register: (req) =>
      mapErrors(logger, async () => {
        if (!isUuid(req.workerId))
          throw new InvalidArgumentError('worker_id', 'must be a worker id (a UUID)');
        // Any other refusal, an empty password included, is the one UNAUTHENTICATED error.
        await deps.registration.register(req.workerId, req.otp);
        logger.info(
          { workerId: req.workerId, pid: req.pid, hostname: req.hostname },
          'worker registered',
        );
        return create(RegisterResponseSchema, {
          sessionToken: deps.tokens.issue(req.workerId),
          heartbeatIntervalMs: deps.heartbeatIntervalMs,
        });
      }),

    async *connect(requests, ctx) {
      const workerId = deps.tokens.verify(ctx.requestHeader.get(SESSION_HEADER) ?? '');
      if (!workerId)
        throw new ConnectError(`missing or invalid ${SESSION_HEADER} header`, Code.Unauthenticated);
      const log = logger.child({ workerId });
      const outgoing = createAsyncQueue<ServerMessage>();
      const correlationIds = new Map<string, string>();
      const session: WorkerSession = {
        workerId,
        sendRun(job) {
          correlationIds.set(job.id, job.correlationId);
          outgoing.push(
            create(ServerMessageSchema, {
              body: {
                case: 'run',
                value: {
                  jobId: job.id,
                  attempt: job.attempt,
                  correlationId: job.correlationId,
                  spec: specToPb(job),
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
      // The session exists before the worker turns READY, so a saga that picks it can reach it.
      deps.sessions.add(session);
      const activated = await reports.activate(workerId).catch((error: unknown) => {
        deps.sessions.remove(session);
        throw error;
      });
      if (!activated) {
        deps.sessions.remove(session);
        const worker = await findWorker(db, workerId);
        throw new ConnectError(
          `worker ${workerId} cannot open a stream: it is ${worker?.state ?? 'unknown'} (one stream per registration)`,
          Code.PermissionDenied,
        );
      }
      log.info('worker stream opened; worker READY');

      const reading = (async () => {
        try {
          for await (const message of requests) {
            try {
              await handleMessage(workerId, message, correlationIds);
            } catch (error) {
              log.error(
                { error: errorMessage(error), kind: message.body.case },
                'could not handle a worker message',
              );
            }
          }
        } catch (error) {
          log.info({ error: errorMessage(error) }, 'worker stream failed');
        } finally {
          outgoing.close();
        }
      })();
      const onAbort = () => outgoing.close();
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      try {
        yield* outgoing;
      } finally {
        ctx.signal.removeEventListener('abort', onAbort);
        deps.sessions.remove(session);
        outgoing.close();
        log.info('worker stream closed');
        // Let what the worker sent before it went (its last logs and result) be recorded first.
        await Promise.race([reading, new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
        if (deps.isServing()) {
          await deps.monitor.workerLost(workerId, 'stream closed').catch((error: unknown) => {
            log.error({ error: errorMessage(error) }, 'kill-switch failed after stream closed');
          });
        }
      }
    },
  };
}
