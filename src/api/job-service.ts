// JobService: queue, read, list, cancel and watch jobs.
import { create } from '@bufbuild/protobuf';
import type { ServiceImpl } from '@connectrpc/connect';
import type { JobService } from '../gen/hodei/v1/job_pb.js';
import {
  GetJobLogsResponseSchema,
  GetJobResponseSchema,
  ListJobsResponseSchema,
  QueueJobResponseSchema,
  QueueJobsResponseSchema,
  CancelJobResponseSchema,
  WatchJobResponseSchema,
  type WatchJobResponse,
} from '../gen/hodei/v1/job_pb.js';
import type { Db } from '../db/db.js';
import type { Logger } from '../shared/logger.js';
import {
  BatchItemError,
  HodeiError,
  IdempotencyKeyTakenError,
  InvalidArgumentError,
  NotFoundError,
  OutputDeletedError,
} from '../shared/errors.js';
import { isUuid } from '../shared/ids.js';
import { quoteBounded } from '../shared/text-bounds.js';
import { findJob, listJobs } from '../jobs/job-sql.js';
import { readOutput } from '../jobs/job-output-sql.js';
import { findJobAttempts } from '../jobs/job-attempt-sql.js';
import { jobSteps, planChunks, planSteps, shownOf, type WatchItem } from '../jobs/watch-plan.js';
import { isTerminalJobState, type JobState } from '../jobs/job-state.js';
import type { JobCommands } from '../jobs/job-commands.js';
import type { JobWatch } from '../jobs/job-watch.js';
import { validateJobSpec, validateKey } from '../jobs/validate-job-spec.js';
import { chunkToPb, jobStateFromPb, jobToPb, specFromPb } from './convert.js';
import { resolveCorrelationId } from './correlation.js';
import { decodePageToken, encodePageToken } from './page-token.js';
import { mapErrors } from './error-mapping.js';
import { grantOf, requireOwnJob } from './auth-interceptor.js';
import { access } from '../auth/scopes.js';
import { SpanKind } from '@opentelemetry/api';
import { inSpan } from '../telemetry/tracing.js';

export interface JobServiceDeps {
  db: Db;
  commands: JobCommands;
  jobWatch: JobWatch;
  logger: Logger;
  knownProviders: readonly string[];
  /** Slow re-check of a watched job when no notification came (fallback only). */
  watchFallbackMs?: number;
}

/** Most jobs one QueueJobs call may queue. */
export const MAX_BATCH = 1000;

/** A page of output (GetJobLogs, one WatchJob read) stops at about this many bytes. */
const PAGE_BYTES = 4 * 1024 * 1024;

function jobId(field: string, value: string): string {
  if (!isUuid(value))
    throw new InvalidArgumentError(field, `${quoteBounded(value)} is not a job id (a UUID)`);
  return value;
}

async function requireJob(db: Db, id: string) {
  const job = await findJob(db, jobId('id', id));
  if (!job) throw new NotFoundError('job', id);
  return job;
}

/** The command line as a log shows it: at most 120 characters (never the env or secrets). */
function commandText(command: string, args: readonly string[]): string {
  const line = [command, ...args].join(' ');
  return line.length > 120 ? `${line.slice(0, 119)}…` : line;
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
        const grant = grantOf(ctx);
        const queuedBy = grant?.caller.name ?? null;
        // The root of the job's trace: the outbox row of JobQueued is written inside it.
        const { job, created } = await inSpan(
          'QueueJob',
          {
            kind: SpanKind.SERVER,
            correlationId,
            attributes: { 'hodei.correlation_id': correlationId, 'rpc.method': 'QueueJob' },
          },
          async (span) => {
            const queued = await deps.commands.queue({
              spec,
              idempotencyKey,
              correlationId,
              queuedBy,
            });
            span.setAttributes({ 'hodei.job_id': queued.job.id, 'hodei.created': queued.created });
            return queued;
          },
        );
        // A key another token used answers as a reused key, not with that token's job (unless
        // the caller may read every job anyway).
        if (!created && grant && job.queuedBy !== queuedBy) {
          if (access(grant.caller.scopes, 'JobService/GetJob') !== 'all') {
            throw new IdempotencyKeyTakenError(idempotencyKey ?? '');
          }
        }
        if (created) {
          logger.info(
            {
              jobId: job.id,
              correlationId: job.correlationId,
              command: commandText(job.command, job.args),
            },
            'job queued',
          );
        }
        return create(QueueJobResponseSchema, { job: jobToPb(job) });
      }),

    queueJobs: (req, ctx) =>
      mapErrors(logger, async () => {
        if (req.jobs.length === 0)
          throw new InvalidArgumentError('jobs', 'is empty; give 1 to 1000 jobs');
        if (req.jobs.length > MAX_BATCH) {
          throw new InvalidArgumentError(
            'jobs',
            `has ${req.jobs.length} entries; at most ${MAX_BATCH} allowed`,
          );
        }
        const grant = grantOf(ctx);
        const queuedBy = grant?.caller.name ?? null;
        const keys = new Map<string, number>();
        // Every item is checked before anything is written; an error names the item.
        const requests = req.jobs.map((item, index) => {
          try {
            const spec = validateJobSpec(specFromPb(item.spec), deps.knownProviders);
            const idempotencyKey = item.idempotencyKey
              ? validateKey('idempotency_key', item.idempotencyKey)
              : null;
            if (idempotencyKey !== null) {
              const first = keys.get(idempotencyKey);
              if (first !== undefined) {
                throw new InvalidArgumentError(
                  'idempotency_key',
                  `${quoteBounded(idempotencyKey)} is also the key of jobs[${first}]; each job of a call needs its own`,
                );
              }
              keys.set(idempotencyKey, index);
            }
            const correlationId = resolveCorrelationId(item.correlationId, ctx.requestHeader);
            return { spec, idempotencyKey, correlationId, queuedBy };
          } catch (error) {
            if (error instanceof HodeiError) throw new BatchItemError(index, error);
            throw error;
          }
        });
        const results = await inSpan(
          'QueueJobs',
          {
            kind: SpanKind.SERVER,
            attributes: { 'rpc.method': 'QueueJobs', 'hodei.jobs': requests.length },
          },
          // A key another token used refuses the batch as taken (as QueueJob answers), unless the
          // caller may read every job anyway.
          () =>
            deps.commands.queueMany(requests, {
              othersKeys: !grant || access(grant.caller.scopes, 'JobService/GetJob') === 'all',
            }),
        );
        const created = results.filter((r) => r.created).length;
        if (created > 0) logger.info({ jobs: created }, 'jobs queued');
        return create(QueueJobsResponseSchema, { jobs: results.map((r) => jobToPb(r.job)) });
      }),

    getJob: (req, ctx) =>
      mapErrors(logger, async () => {
        const job = await requireJob(db, req.id);
        requireOwnJob(grantOf(ctx), job.queuedBy, 'read');
        const attempts = await findJobAttempts(db, job.id);
        return create(GetJobResponseSchema, { job: jobToPb(job, attempts) });
      }),

    listJobs: (req, ctx) =>
      mapErrors(logger, async () => {
        const grant = grantOf(ctx);
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
          // A token that reads only its own jobs lists only those.
          ...(grant?.access === 'own' ? { queuedBy: grant.caller.name } : {}),
        });
        const page = jobs.slice(0, limit);
        const last = page[page.length - 1];
        return create(ListJobsResponseSchema, {
          jobs: page.map((job) => jobToPb(job)),
          nextPageToken: jobs.length > limit && last ? encodePageToken(last.id) : '',
        });
      }),

    cancelJob: (req, ctx) =>
      mapErrors(logger, async () => {
        const grant = grantOf(ctx);
        if (grant?.access === 'own') {
          requireOwnJob(grant, (await requireJob(db, req.id)).queuedBy, 'cancel');
        }
        const job = await deps.commands.cancel(jobId('id', req.id), grant?.caller.name ?? null);
        logger.info({ jobId: job.id, state: job.state }, 'job cancel requested');
        return create(CancelJobResponseSchema, { job: jobToPb(job) });
      }),

    getJobLogs: (req, ctx) =>
      mapErrors(logger, async () => {
        const job = await requireJob(db, req.id);
        requireOwnJob(grantOf(ctx), job.queuedBy, 'read');
        if (job.outputDeletedAt) throw new OutputDeletedError(job.id, job.outputDeletedAt);
        if (req.limit < 0 || req.limit > 10_000)
          throw new InvalidArgumentError('limit', 'must be between 0 and 10000');
        if (req.attempt < 0) throw new InvalidArgumentError('attempt', 'must not be negative');
        if (req.afterSeq < 0n) throw new InvalidArgumentError('after_seq', 'must not be negative');
        const chunks = await readOutput(db, {
          jobId: req.id,
          afterSeq: Number(req.afterSeq),
          attempt: req.attempt,
          limit: req.limit || 1000,
          maxBytes: PAGE_BYTES,
        });
        return create(GetJobLogsResponseSchema, { chunks: chunks.map(chunkToPb) });
      }),

    async *watchJob(req, ctx) {
      let job = await mapErrors(logger, async () => {
        const found = await requireJob(db, req.id);
        requireOwnJob(grantOf(ctx), found.queuedBy, 'read');
        return found;
      });
      yield create(WatchJobResponseSchema, { event: { case: 'job', value: jobToPb(job) } });
      const shown = shownOf(job);
      let wake: (() => void) | undefined;
      let dirty = false;
      const unsubscribe = deps.jobWatch.subscribe(job.id, () => {
        dirty = true;
        wake?.();
      });
      const toPb = (item: WatchItem): WatchJobResponse =>
        create(WatchJobResponseSchema, {
          event:
            item.kind === 'job'
              ? { case: 'job', value: jobToPb(item.job) }
              : { case: 'output', value: chunkToPb(item.chunk) },
        });
      try {
        let lastSeq = 0;
        let lastRead = '';
        for (;;) {
          dirty = false;
          // The job first, then the output stored since: see jobs/watch-plan.ts for why this
          // order tells the story right. Pages are bounded in bytes, and each is sent before the
          // next is read, so a slow watcher holds one page at most.
          const current = await findJob(db, job.id);
          if (current) job = current;
          const read = `${job.attempt}/${job.state}`;
          const changed = read !== lastRead;
          lastRead = read;
          // Ended attempts matter only when the job moved past the attempt last shown.
          const attempts = job.attempt > shown.attempt ? await findJobAttempts(db, job.id) : [];
          const steps = jobSteps(job, attempts, shown.attempt);
          // The next page is read while this one is sent (two pages in memory at most). A page
          // left unread when the watcher goes away must not become an unhandled rejection.
          const page = (afterSeq: number) => {
            const reading = readOutput(db, {
              jobId: job.id,
              afterSeq,
              attempt: 0,
              limit: 1000,
              maxBytes: PAGE_BYTES,
            });
            reading.catch(() => undefined);
            return reading;
          };
          let next = page(lastSeq);
          let ahead = false; // output of a state newer than the job as read
          for (;;) {
            const chunks = await next;
            if (chunks.length === 0) break;
            const { items, placed } = planChunks(steps, chunks, shown);
            ahead = placed < chunks.length;
            lastSeq = chunks[placed - 1]?.seq ?? lastSeq;
            if (!ahead) next = page(lastSeq);
            for (const item of items) yield toPb(item);
            if (ctx.signal.aborted || ahead) break;
          }
          for (const item of planSteps(steps, shown)) yield toPb(item);
          if (isTerminalJobState(job.state)) return;
          if (ctx.signal.aborted) return;
          // Output ahead of the job read: read the job again at once (unless it has not moved,
          // when the next change wakes this watcher as usual).
          if (ahead && changed) continue;
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
