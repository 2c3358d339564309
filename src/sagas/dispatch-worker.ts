// What an undone dispatch does with the worker it reserved (ExecutionSaga compensation): a worker
// that never got the RUN and whose stream is here goes back to READY; any other is terminated and
// its infrastructure destroyed. A worker with no stream here cannot be given a job (crash-only
// workers never reconnect: after a server restart every stream is gone), and one that was sent the
// RUN may still start it late, so it must not run the next attempt's job besides.
//
// Every change is guarded by the job the worker is BUSY for, so a worker released since, or
// reserved by the job's next attempt, is never touched.
import { event, type NewEvent } from '../events/catalog.js';
import type { Queryable } from '../db/db.js';
import { releaseWorker, terminateReservedWorker } from '../workers/worker-sql.js';
import type { WorkerRecord } from '../workers/worker.js';
import type { SagaDeps } from './saga-deps.js';

/** BUSY for the job → TERMINATED inside the caller's transaction; returns the worker and its
 * event, or undefined when the worker is not BUSY for that job (nothing to undo). */
export async function terminateDispatchWorker(
  tx: Queryable,
  ref: { workerId: string; jobId: string; reason: string },
): Promise<{ worker: WorkerRecord; event: NewEvent } | undefined> {
  const worker = await terminateReservedWorker(tx, ref.workerId, ref.jobId, ref.reason);
  if (!worker) return undefined;
  return {
    worker,
    event: event('WorkerTerminated', worker.id, worker.correlationId, {
      workerId: worker.id,
      reason: ref.reason,
    }),
  };
}

/** After the commit that terminated the worker: closes its stream here, if any, and destroys its
 * infrastructure. */
export async function destroyDispatchWorker(
  deps: SagaDeps,
  worker: WorkerRecord,
  reason: string,
): Promise<void> {
  deps.sessions.get(worker.id)?.close(reason);
  if (worker.externalId) await deps.provider.destroy(worker.externalId);
}

/** Gives back the worker reserved for the job: READY (with WorkerReady) when the RUN was never
 * sent and its stream is here, otherwise TERMINATED and destroyed. */
export async function giveBackDispatchWorker(
  deps: SagaDeps,
  ref: { workerId: string; jobId: string; correlationId: string; runSent: boolean },
): Promise<void> {
  const { workerId, jobId, correlationId } = ref;
  if (!ref.runSent && deps.sessions.has(workerId)) {
    await deps.db.transaction(async (tx) => {
      if (await releaseWorker(tx, workerId, jobId)) {
        await deps.outbox.append(tx, [event('WorkerReady', workerId, correlationId, { workerId })]);
      }
    });
    return;
  }
  const reason = ref.runSent
    ? 'dispatch undone after the RUN was sent'
    : 'no stream during dispatch';
  const terminated = await deps.db.transaction(async (tx) => {
    const done = await terminateDispatchWorker(tx, { workerId, jobId, reason });
    if (done) await deps.outbox.append(tx, [done.event]);
    return done?.worker;
  });
  if (terminated) await destroyDispatchWorker(deps, terminated, reason);
}
