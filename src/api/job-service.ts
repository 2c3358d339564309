// JobService: queue, read, list, cancel and watch jobs.
import { create } from '@bufbuild/protobuf';
import type { ServiceImpl } from '@connectrpc/connect';
import type { JobService } from '../gen/hodei/v1/job_pb.js';
import {
  GetJobLogsResponseSchema,
  GetJobResponseSchema,
  ListJobsResponseSchema,
  QueueJobResponseSchema,
  CancelJobResponseSchema,
  WatchJobResponseSchema,
  type WatchJobResponse,
} from '../gen/hodei/v1/job_pb.js';
import type { Db } from '../db/db.js';
import type { Logger } from '../shared/logger.js';
import { InvalidArgumentError, NotFoundError } from '../shared/errors.js';
import { isUuid } from '../shared/ids.js';
import { findJob, listJobs } from '../jobs/job-sql.js';
import { readLogLines } from '../jobs/job-log-sql.js';
import { isTerminalJobState, type JobState } from '../jobs/job-state.js';
import type { JobCommands } from '../jobs/job-commands.js';
import type { JobWatch } from '../jobs/job-watch.js';
import { validateJobSpec, validateKey } from '../jobs/validate-job-spec.js';
import { jobStateFromPb, jobToPb, logLineToPb, specFromPb } from './convert.js';
import { resolveCorrelationId } from './correlation.js';
import { decodePageToken, encodePageToken } from './page-token.js';
import { mapErrors } from './error-mapping.js';

export interface JobServiceDeps {
  db: Db;
  commands: JobCommands;
  jobWatch: JobWatch;
  logger: Logger;
  knownProviders: readonly string[];
  /** Slow re-check of a watched job when no notification came (fallback only). */
  watchFallbackMs?: number;
}

function jobId(field: string, value: string): string {
  if (!isUuid(value)) throw new InvalidArgumentError(field, `"${value}" is not a job id (a UUID)`);
  return value;
}

async function requireJob(db: Db, id: string) {
  const job = await findJob(db, jobId('id', id));
  if (!job) throw new NotFoundError('job', id);
  return job;
}

export function jobServiceImpl(deps: JobServiceDeps): ServiceImpl<typeof JobService> {
  const { db, logger } = deps;
  const fallbackMs = deps.watchFallbackMs ?? 1000;

  return {
    queueJob: (req, ctx) =>
      mapErrors(logger, async () => {
        const spec = validateJobSpec(specFromPb(req.spec), deps.knownProviders);
        const idempotencyKey = req.idempotencyKey
          ? validateKey('idempotency_key', req.idempotencyKey)
          : null;
        const correlationId = resolveCorrelationId(req.correlationId, ctx.requestHeader);
        const { job } = await deps.commands.queue({ spec, idempotencyKey, correlationId });
        return create(QueueJobResponseSchema, { job: jobToPb(job) });
      }),

    getJob: (req) =>
      mapErrors(logger, async () =>
        create(GetJobResponseSchema, { job: jobToPb(await requireJob(db, req.id)) }),
      ),

    listJobs: (req) =>
      mapErrors(logger, async () => {
        const states: JobState[] = req.states.map((s) => {
          const state = jobStateFromPb(s);
          if (!state) throw new InvalidArgumentError('states', `unknown job state ${s}`);
          return state;
        });
        if (req.pageSize < 0 || req.pageSize > 500) {
          throw new InvalidArgumentError('page_size', 'must be between 0 and 500');
        }
        const limit = req.pageSize || 50;
        const jobs = await listJobs(db, {
          states,
          limit: limit + 1,
          afterId: decodePageToken(req.pageToken),
        });
        const page = jobs.slice(0, limit);
        const last = page[page.length - 1];
        return create(ListJobsResponseSchema, {
          jobs: page.map(jobToPb),
          nextPageToken: jobs.length > limit && last ? encodePageToken(last.id) : '',
        });
      }),

    cancelJob: (req) =>
      mapErrors(logger, async () =>
        create(CancelJobResponseSchema, {
          job: jobToPb(await deps.commands.cancel(jobId('id', req.id))),
        }),
      ),

    getJobLogs: (req) =>
      mapErrors(logger, async () => {
        await requireJob(db, req.id);
        if (req.limit < 0 || req.limit > 10_000)
          throw new InvalidArgumentError('limit', 'must be between 0 and 10000');
        const lines = await readLogLines(db, req.id, Number(req.afterSeq), req.limit || 1000);
        return create(GetJobLogsResponseSchema, { lines: lines.map(logLineToPb) });
      }),

    async *watchJob(req, ctx) {
      let job = await mapErrors(logger, () => requireJob(db, req.id));
      yield create(WatchJobResponseSchema, { event: { case: 'job', value: jobToPb(job) } });
      let wake: (() => void) | undefined;
      let dirty = false;
      const unsubscribe = deps.jobWatch.subscribe(job.id, () => {
        dirty = true;
        wake?.();
      });
      try {
        let lastSeq = 0;
        let seen = `${job.state}/${job.attempt}/${job.workerId ?? ''}`;
        for (;;) {
          dirty = false;
          // State first, then logs: a worker's lines are stored before its result, so once the
          // state read here is terminal, the log read below holds every line.
          const current = await findJob(db, job.id);
          if (current) job = current;
          const out: WatchJobResponse[] = [];
          for (;;) {
            const lines = await readLogLines(db, job.id, lastSeq, 1000);
            for (const line of lines) {
              out.push(
                create(WatchJobResponseSchema, {
                  event: { case: 'log', value: logLineToPb(line) },
                }),
              );
              lastSeq = line.seq;
            }
            if (lines.length < 1000) break;
          }
          const now = `${job.state}/${job.attempt}/${job.workerId ?? ''}`;
          if (now !== seen) {
            seen = now;
            out.push(
              create(WatchJobResponseSchema, { event: { case: 'job', value: jobToPb(job) } }),
            );
          }
          yield* out;
          if (isTerminalJobState(job.state)) return;
          if (ctx.signal.aborted) return;
          if (!dirty) {
            let onAbort: (() => void) | undefined;
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, fallbackMs);
              wake = onAbort = () => {
                clearTimeout(timer);
                resolve();
              };
              ctx.signal.addEventListener('abort', onAbort, { once: true });
            });
            if (onAbort) ctx.signal.removeEventListener('abort', onAbort);
            wake = undefined;
          }
        }
      } finally {
        unsubscribe();
      }
    },
  };
}
