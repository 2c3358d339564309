// The two things a client does to a job: queue it and cancel it. Each commits the job's state
// and its event together (invariant 1); a job's sealed secrets commit with it too.
import type { Db } from '../db/db.js';
import { tracedHere, type OutboxWriter } from '../outbox/outbox-writer.js';
import type { Metrics } from '../metrics/metrics.js';
import { event, type NewEvent } from '../events/catalog.js';
import {
  BatchItemError,
  IdempotencyKeyReusedError,
  IdempotencyKeyTakenError,
  NotFoundError,
} from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import { createBatcher } from '../shared/batcher.js';
import { isTransientDbError } from '../db/transient-error.js';
import { sameDigest, type SecretBox } from '../secrets/secret-box.js';
import { insertJobSecrets } from '../secrets/job-secrets-sql.js';
import {
  FIRST_ATTEMPT,
  specDifferences,
  storedSpec,
  type JobRecord,
  type JobSpecInput,
} from './job.js';
import {
  cancelJob,
  findJob,
  findJobByIdempotencyKey,
  findJobsByIdempotencyKeys,
  insertJobStatement,
  insertJobsStatement,
  type NewJob,
} from './job-sql.js';

export interface JobCommandsDeps {
  db: Db;
  outbox: OutboxWriter;
  /** Seals a job's secret values before they are stored (the server's secrets key). */
  secretBox: SecretBox;
  metrics?: Metrics;
}

/** The most jobs of concurrent QueueJob calls written in one statement. */
const INTAKE_BATCH = 256;

export function createJobCommands(deps: JobCommandsDeps) {
  const { db, outbox } = deps;

  /** One job to insert with its events, or nothing when its key is taken. */
  type IntakeItem = { job: NewJob; events: NewEvent[] };
  const insertOne = async (item: IntakeItem): Promise<JobRecord | undefined> =>
    (await outbox.changeWithEvents(db, insertJobStatement(item.job), item.events))[0];

  // Group commit: the jobs of QueueJob calls that arrive together are inserted, with their
  // events, in one statement (decision 0020). A batch that fails for a reason other than the
  // database itself is tried again job by job, so one job's problem is only its caller's.
  const intake = createBatcher<IntakeItem, JobRecord | undefined>({
    maxBatch: INTAKE_BATCH,
    concurrency: 2,
    async run(items) {
      // Keyed jobs in the order of their keys: two batches taking the same keys take them in
      // the same order, so neither waits on the other in a cycle.
      const ordered = [
        ...items.filter((item) => item.job.idempotencyKey === null),
        ...items
          .filter((item) => item.job.idempotencyKey !== null)
          .sort((a, b) => ((a.job.idempotencyKey ?? '') < (b.job.idempotencyKey ?? '') ? -1 : 1)),
      ];
      const inserted = await outbox.changeWithEventsPerRow(
        db,
        insertJobsStatement(ordered.map((item) => item.job)),
        items.flatMap((item) => item.events),
      );
      const byId = new Map(inserted.map((job) => [job.id, job]));
      return items.map((item) => byId.get(item.job.id));
    },
    alone: insertOne,
    retryAlone: (error) => !isTransientDbError(error),
  });

  /** Queues a job; the same idempotency key again returns the first job and queues nothing, or
   * throws IdempotencyKeyReusedError when the first job's spec is another. */
  async function queue(request: {
    spec: JobSpecInput;
    idempotencyKey: string | null;
    correlationId: string;
    /** The API token queueing it; absent or null with auth off. */
    queuedBy?: string | null;
  }): Promise<{ job: JobRecord; created: boolean }> {
    const id = newId();
    const { secrets } = request.spec;
    const spec = storedSpec(request.spec);
    const hasSecrets = spec.secretNames.length > 0;
    const key = request.idempotencyKey;
    const secretsDigest = hasSecrets && key ? deps.secretBox.digest(key, secrets) : null;
    const insert = insertJobStatement({ ...request, id, spec, secretsDigest });
    // Events name the secrets, never their values.
    const events = [
      event('JobQueued', id, request.correlationId, {
        jobId: id,
        attempt: FIRST_ATTEMPT,
        ...(request.queuedBy ? { queuedBy: request.queuedBy } : {}),
        ...(hasSecrets ? { secrets: spec.secretNames } : {}),
      }),
    ];
    // One statement: the job and its JobQueued event, or nothing when the key is taken — shared
    // with the other calls of the moment (intake); with secrets, their sealed row in the same
    // transaction.
    const job = hasSecrets
      ? (
          await db.transaction(async (tx) => {
            const inserted = await outbox.changeWithEvents(tx, insert, events);
            if (inserted.length > 0) {
              await insertJobSecrets(tx, id, deps.secretBox.seal(id, secrets));
            }
            return inserted;
          })
        )[0]
      : await intake({ job: { ...request, id, spec, secretsDigest }, events: tracedHere(events) });
    if (job) {
      deps.metrics?.jobsQueued.inc();
      return { job, created: true };
    }
    const existing = await findJobByIdempotencyKey(db, key ?? '');
    if (!existing) throw new Error('idempotency key conflict but no job found');
    requireSameJob(existing, { spec, key, hasSecrets, secretsDigest });
    return { job: existing, created: false };
  }

  /** The job queued before under the key must be this one, or the key is being reused. */
  function requireSameJob(
    existing: JobRecord,
    repeat: {
      spec: ReturnType<typeof storedSpec>;
      key: string | null;
      hasSecrets: boolean;
      secretsDigest: string | null;
    },
  ): void {
    const differences = specDifferences(existing, repeat.spec);
    // Equal names: the values are told apart by their digests (another key since gives another
    // digest, so a repeat after a key change counts as different: decision 0015).
    if (
      repeat.hasSecrets &&
      !differences.includes('secrets') &&
      !sameDigest(existing.secretsDigest ?? '', repeat.secretsDigest ?? '')
    ) {
      differences.push('secrets');
    }
    if (differences.length > 0) {
      throw new IdempotencyKeyReusedError(repeat.key ?? '', existing.id, differences);
    }
  }

  /** Queues the jobs all or none: every job and its JobQueued in one transaction (the jobs and
   * their events in one statement). A key used before with the same spec gives that job back; a
   * key used before with another spec refuses the whole batch, naming the item. The caller has
   * checked that no key appears twice in the batch. */
  async function queueMany(
    requests: ReadonlyArray<{
      spec: JobSpecInput;
      idempotencyKey: string | null;
      correlationId: string;
      queuedBy?: string | null;
    }>,
    options: {
      /** Whether a key another token used may give that token's job back (a caller who may
       * read every job); otherwise such a key refuses the batch as taken. */
      othersKeys?: boolean;
    } = {},
  ): Promise<Array<{ job: JobRecord; created: boolean }>> {
    const items = requests.map((request) => {
      const spec = storedSpec(request.spec);
      const hasSecrets = spec.secretNames.length > 0;
      const key = request.idempotencyKey;
      return {
        ...request,
        id: newId(),
        spec,
        secrets: request.spec.secrets,
        hasSecrets,
        key,
        secretsDigest: hasSecrets && key ? deps.secretBox.digest(key, request.spec.secrets) : null,
      };
    });
    const events = items.map((item) =>
      event('JobQueued', item.id, item.correlationId, {
        jobId: item.id,
        attempt: FIRST_ATTEMPT,
        ...(item.queuedBy ? { queuedBy: item.queuedBy } : {}),
        ...(item.hasSecrets ? { secrets: item.spec.secretNames } : {}),
      }),
    );
    const results = await db.transaction(async (tx) => {
      const inserted = await outbox.changeWithEventsPerRow(
        tx,
        insertJobsStatement(
          items.map((item) => ({ ...item, idempotencyKey: item.key, queuedBy: item.queuedBy })),
        ),
        events,
      );
      const byId = new Map(inserted.map((job) => [job.id, job]));
      for (const item of items) {
        if (item.hasSecrets && byId.has(item.id))
          await insertJobSecrets(tx, item.id, deps.secretBox.seal(item.id, item.secrets));
      }
      const repeats = items.filter((item) => !byId.has(item.id));
      const earlier = await findJobsByIdempotencyKeys(
        tx,
        repeats.map((item) => item.key ?? ''),
      );
      const byKey = new Map(earlier.map((job) => [job.idempotencyKey, job]));
      return items.map((item, index) => {
        const job = byId.get(item.id);
        if (job) return { job, created: true };
        const existing = byKey.get(item.key);
        if (!existing) throw new Error('idempotency key conflict but no job found');
        try {
          if (!options.othersKeys && (existing.queuedBy ?? null) !== (item.queuedBy ?? null))
            throw new IdempotencyKeyTakenError(item.key ?? '');
          requireSameJob(existing, item);
        } catch (error) {
          // Thrown inside the transaction: nothing of the batch is written.
          if (
            error instanceof IdempotencyKeyReusedError ||
            error instanceof IdempotencyKeyTakenError
          )
            throw new BatchItemError(index, error);
          throw error;
        }
        return { job: existing, created: false };
      });
    });
    const created = results.filter((r) => r.created).length;
    if (created > 0) deps.metrics?.jobsQueued.inc(created);
    return results;
  }

  /** Cancels a job that has not finished; a finished job is returned as it is. */
  async function cancel(jobId: string, cancelledBy: string | null = null): Promise<JobRecord> {
    const cancelled = await db.transaction(async (tx) => {
      const result = await cancelJob(tx, jobId, cancelledBy);
      if (!result) return undefined;
      const { job, previousState } = result;
      const onWorker = previousState === 'ASSIGNED' || previousState === 'RUNNING';
      await outbox.append(tx, [
        event('JobCancelled', job.id, job.correlationId, {
          jobId: job.id,
          attempt: job.attempt,
          ...(onWorker && job.workerId ? { workerId: job.workerId } : {}),
          ...(cancelledBy === null ? {} : { cancelledBy }),
        }),
      ]);
      return job;
    });
    if (cancelled) {
      return cancelled;
    }
    const job = await findJob(db, jobId);
    if (!job) throw new NotFoundError('job', jobId);
    return job;
  }

  return { queue, queueMany, cancel };
}

export type JobCommands = ReturnType<typeof createJobCommands>;
