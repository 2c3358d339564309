// The secrets of a job about to be sent its RUN: opened just before it (never kept in the saga's
// context, output or memo, which are stored), and when they cannot be opened — the secrets key
// changed since the job was queued, or the row was altered — the job ends FAILED with that reason
// and its worker, which never got the RUN, goes back to READY. Running it again cannot help, so
// it is neither requeued nor retried.
import { event, type NewEvent } from '../events/catalog.js';
import { finishJob } from '../jobs/job-sql.js';
import type { JobRecord } from '../jobs/job.js';
import { openJobSecrets } from '../secrets/job-secrets.js';
import { SecretsUnreadableError } from '../shared/errors.js';
import { releaseWorker } from '../workers/worker-sql.js';
import type { SagaDeps } from './saga-deps.js';

/** The job's secret values, or undefined when they could not be opened and the job was failed. */
export async function secretsForRun(
  deps: SagaDeps,
  job: JobRecord,
  workerId: string,
): Promise<Record<string, string> | undefined> {
  try {
    return await openJobSecrets(deps.db, deps.secretBox, job);
  } catch (error) {
    if (!(error instanceof SecretsUnreadableError)) throw error;
    await failJob(deps, job, workerId, error.message);
    deps.logger.warn(
      { jobId: job.id, attempt: job.attempt, reason: error.reason, error: error.message },
      'job failed: its secrets cannot be read with this server key',
    );
    return undefined;
  }
}

async function failJob(
  deps: SagaDeps,
  job: JobRecord,
  workerId: string,
  error: string,
): Promise<void> {
  await deps.db.transaction(async (tx) => {
    const events: NewEvent[] = [];
    const failed = await finishJob(tx, {
      jobId: job.id,
      attempt: job.attempt,
      workerId,
      state: 'FAILED',
      exitCode: null,
      error,
    });
    if (failed) {
      events.push(
        event('JobFailed', job.id, job.correlationId, {
          jobId: job.id,
          attempt: job.attempt,
          workerId,
          error,
        }),
      );
    }
    if (await releaseWorker(tx, workerId, job.id)) {
      events.push(event('WorkerReady', workerId, job.correlationId, { workerId }));
    }
    await deps.outbox.append(tx, events);
  });
}
