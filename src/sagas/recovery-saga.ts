// RecoverySaga (DESIGN §5.7), started by WorkerLost: TerminateOldWorker → MarkJobForReassignment
// (back to PENDING with attempt + 1, or FAILED when attempts are exhausted). The requeued job's
// JobRequeued event starts a new ExecutionSaga. The old worker goes first: destroy returns once
// its process tree is gone, so the job's next attempt can never run while the last one's command
// is still being torn down (the chaos suite saw a dying shell write 4 ms into the next attempt
// when the requeue came first).
import { event } from '../events/catalog.js';
import { requeueJob } from '../jobs/job-sql.js';
import { findWorker, terminateWorker } from '../workers/worker-sql.js';
import type { SagaDefinition, SagaStep } from './saga.js';
import type { SagaDeps } from './saga-deps.js';

export interface RecoveryContext extends Record<string, unknown> {
  workerId: string;
  reason: string;
  jobId?: string;
  attempt?: number;
  /** The worker went with its server (a crash): the requeue is not charged to max_attempts. */
  serverGone?: boolean;
}

function markJobForReassignment(deps: SagaDeps): SagaStep<RecoveryContext> {
  return {
    name: 'MarkJobForReassignment',
    async execute({ context, correlationId }) {
      const { jobId, attempt } = context;
      if (!jobId || attempt === undefined) return { kind: 'next', output: { job: null } };
      const job = await deps.db.transaction(async (tx) => {
        const requeued = await requeueJob(
          tx,
          { jobId, attempt },
          context.serverGone ? 'SERVER_LOST' : 'WORKER_LOST',
          `worker lost: ${context.reason}`,
        );
        if (!requeued) return undefined;
        const ref = { jobId, attempt: requeued.attempt };
        await deps.outbox.append(tx, [
          requeued.state === 'PENDING'
            ? event('JobRequeued', jobId, correlationId, {
                ...ref,
                reason: `worker lost: ${context.reason}`,
              })
            : event('JobFailed', jobId, correlationId, { ...ref, error: requeued.error }),
        ]);
        return requeued;
      });
      return {
        kind: 'next',
        output: { jobId, state: job?.state ?? 'unchanged', attempt: job?.attempt },
      };
    },
  };
}

function terminateOldWorker(deps: SagaDeps): SagaStep<RecoveryContext> {
  return {
    name: 'TerminateOldWorker',
    async execute({ context, correlationId }) {
      const workerId = context.workerId;
      await deps.db.transaction(async (tx) => {
        if (await terminateWorker(tx, workerId, context.reason)) {
          await deps.outbox.append(tx, [
            event('WorkerTerminated', workerId, correlationId, {
              workerId,
              reason: context.reason,
            }),
          ]);
        }
      });
      const worker = await findWorker(deps.db, workerId);
      if (worker?.externalId) await deps.provider.destroy(worker.externalId);
      return { kind: 'next' };
    },
  };
}

export function recoverySaga(deps: SagaDeps): SagaDefinition<RecoveryContext> {
  return { type: 'recovery', steps: [terminateOldWorker(deps), markJobForReassignment(deps)] };
}
