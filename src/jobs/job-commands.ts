// The two things a client does to a job: queue it and cancel it. Each commits the job's state
// and its event together (invariant 1); a job's sealed secrets commit with it too.
import type { Db } from '../db/db.js';
import type { OutboxWriter } from '../outbox/outbox-writer.js';
import type { Metrics } from '../metrics/metrics.js';
import { event } from '../events/catalog.js';
import { IdempotencyKeyReusedError, NotFoundError } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import { sameDigest, type SecretBox } from '../secrets/secret-box.js';
import { insertJobSecrets } from '../secrets/job-secrets-sql.js';
import {
  FIRST_ATTEMPT,
  specDifferences,
  storedSpec,
  type JobRecord,
  type JobSpecInput,
} from './job.js';
import { cancelJob, findJob, findJobByIdempotencyKey, insertJobStatement } from './job-sql.js';

export interface JobCommandsDeps {
  db: Db;
  outbox: OutboxWriter;
  /** Seals a job's secret values before they are stored (the server's secrets key). */
  secretBox: SecretBox;
  metrics?: Metrics;
}

export function createJobCommands(deps: JobCommandsDeps) {
  const { db, outbox } = deps;

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
    // One statement: the job and its JobQueued event, or nothing when the key is taken; with
    // secrets, their sealed row in the same transaction.
    const [job] = hasSecrets
      ? await db.transaction(async (tx) => {
          const inserted = await outbox.changeWithEvents(tx, insert, events);
          if (inserted.length > 0) {
            await insertJobSecrets(tx, id, deps.secretBox.seal(id, secrets));
          }
          return inserted;
        })
      : await outbox.changeWithEvents(db, insert, events);
    if (job) {
      deps.metrics?.jobsQueued.inc();
      return { job, created: true };
    }
    const existing = await findJobByIdempotencyKey(db, key ?? '');
    if (!existing) throw new Error('idempotency key conflict but no job found');
    const differences = specDifferences(existing, spec);
    // Equal names: the values are told apart by their digests (another key since gives another
    // digest, so a repeat after a key change counts as different: decision 0015).
    if (
      hasSecrets &&
      !differences.includes('secrets') &&
      !sameDigest(existing.secretsDigest ?? '', secretsDigest ?? '')
    ) {
      differences.push('secrets');
    }
    if (differences.length > 0) {
      throw new IdempotencyKeyReusedError(key ?? '', existing.id, differences);
    }
    return { job: existing, created: false };
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

  return { queue, cancel };
}

export type JobCommands = ReturnType<typeof createJobCommands>;
