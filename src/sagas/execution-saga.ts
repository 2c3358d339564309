// ExecutionSaga (DESIGN §5.4): ValidateJobState → ReserveWorker → UpdateJobToAssigned →
// SendRunJobCommand. The only path from PENDING to a running command.
import { event } from '../events/catalog.js';
import { findJob, assignJobStatement, requeueJob } from '../jobs/job-sql.js';
import type { JobRecord } from '../jobs/job.js';
import {
  claimReadyWorker,
  countLiveWorkers,
  releaseWorker,
  terminateWorker,
} from '../workers/worker-sql.js';
import { isTerminalJobState } from '../jobs/job-state.js';
import { SagaStepFailure, type SagaDefinition, type SagaMemo, type SagaStep } from './saga.js';
import { WORKER_READY_KEY, jobStartedKey, type SagaDeps } from './saga-deps.js';

export interface ExecutionContext extends Record<string, unknown> {
  jobId: string;
  attempt: number;
  workerId?: string;
  /** How many provisioning requests this attempt has made (part of each request's id). */
  provisionRequests?: number;
  runSent?: boolean;
}

/** The job as this run last read or wrote it (saga memo): spares the next step a read. */
interface ExecutionMemo extends SagaMemo {
  job: JobRecord;
}

type Step = SagaStep<ExecutionContext, ExecutionMemo>;

function validateJobState(deps: SagaDeps): Step {
  return {
    name: 'ValidateJobState',
    async execute({ context, memo }) {
      const job = await findJob(deps.db, context.jobId);
      if (!job || job.attempt !== context.attempt || job.state !== 'PENDING') {
        return {
          kind: 'finish',
          output: {
            skipped: job ? `job is ${job.state} (attempt ${job.attempt})` : 'job not found',
          },
        };
      }
      memo.job = job;
      return { kind: 'next' };
    },
  };
}

function reserveWorker(deps: SagaDeps): Step {
  return {
    name: 'ReserveWorker',
    async execute({ context, correlationId, wake, memo }) {
      const job = memo.job ?? (await findJob(deps.db, context.jobId));
      if (!job || job.attempt !== context.attempt || job.state !== 'PENDING') {
        return { kind: 'finish', output: { skipped: `job is ${job?.state ?? 'gone'}` } };
      }
      const worker = await claimReadyWorker(deps.db, context.jobId);
      if (worker)
        return { kind: 'next', context: { workerId: worker.id }, output: { workerId: worker.id } };
      // No free worker: ask for one while under the cap (the ProvisioningSaga enforces the cap
      // atomically; this check only avoids pointless requests), then wait for any WorkerReady.
      // Only the first look and a passed deadline ask again: a recheck or a WorkerReady that
      // another saga won must not multiply requests.
      let requests = context.provisionRequests ?? 0;
      const mayRequest = wake === undefined || wake === 'deadline';
      if (mayRequest && (await countLiveWorkers(deps.db)) < deps.settings.maxWorkers) {
        requests += 1;
        const requestId = `${context.jobId}:${context.attempt}:${requests}`;
        await deps.db.transaction((tx) =>
          deps.outbox.append(tx, [
            event('WorkerProvisioningRequested', requestId, correlationId, {
              requestId,
              provider: deps.provider.name,
              jobId: context.jobId,
            }),
          ]),
        );
      }
      return {
        kind: 'wait',
        key: WORKER_READY_KEY,
        deadlineMs: deps.settings.workerWaitMs,
        context: { provisionRequests: requests },
      };
    },
    async compensate({ context, correlationId }) {
      if (!context.workerId) return;
      const workerId = context.workerId;
      if (deps.sessions.has(workerId)) {
        await deps.db.transaction(async (tx) => {
          if (await releaseWorker(tx, workerId, context.jobId)) {
            await deps.outbox.append(tx, [
              event('WorkerReady', workerId, correlationId, { workerId }),
            ]);
          }
        });
        return;
      }
      // The worker has no stream: it cannot be trusted with another job.
      const before = await deps.db.transaction(async (tx) => {
        const was = await terminateWorker(tx, workerId, 'no stream during dispatch');
        if (was) {
          await deps.outbox.append(tx, [
            event('WorkerTerminated', workerId, was.correlationId, {
              workerId,
              reason: 'no stream during dispatch',
            }),
          ]);
        }
        return was;
      });
      if (before?.externalId) await deps.provider.destroy(before.externalId);
    },
  };
}

function updateJobToAssigned(deps: SagaDeps): Step {
  return {
    name: 'UpdateJobToAssigned',
    async execute({ context, correlationId, memo }) {
      const { jobId, attempt, workerId } = context;
      if (!workerId) throw new SagaStepFailure('UpdateJobToAssigned', 'no worker reserved');
      // One statement: the job ASSIGNED and its JobAssigned event, or nothing if not PENDING.
      const [assigned] = await deps.outbox.changeWithEvents(
        deps.db,
        assignJobStatement(jobId, attempt, workerId),
        [event('JobAssigned', jobId, correlationId, { jobId, attempt, workerId })],
      );
      if (assigned) memo.job = assigned;
      else {
        const job = await findJob(deps.db, jobId);
        if (job?.state === 'ASSIGNED' && job.workerId === workerId && job.attempt === attempt) {
          memo.job = job;
          return { kind: 'next' }; // this step ran before a crash; nothing to redo
        }
        throw new SagaStepFailure(
          'UpdateJobToAssigned',
          `job is ${job?.state ?? 'gone'}, no longer PENDING`,
        );
      }
      return { kind: 'next' };
    },
    async compensate({ context, correlationId }) {
      await deps.db.transaction(async (tx) => {
        const job = await requeueJob(
          tx,
          context.jobId,
          context.attempt,
          'dispatch to the worker failed',
        );
        if (!job) return;
        const ref = { jobId: job.id, attempt: job.attempt };
        await deps.outbox.append(tx, [
          job.state === 'PENDING'
            ? event('JobRequeued', job.id, correlationId, {
                ...ref,
                reason: 'dispatch to the worker failed',
              })
            : event('JobFailed', job.id, correlationId, { ...ref, error: job.error }),
        ]);
      });
    },
  };
}

function sendRunJobCommand(deps: SagaDeps): Step {
  return {
    name: 'SendRunJobCommand',
    async execute({ context, wake, memo }) {
      const job = memo.job ?? (await findJob(deps.db, context.jobId));
      if (!job || job.attempt !== context.attempt) {
        return { kind: 'finish', output: { skipped: 'attempt superseded' } };
      }
      if (job.state === 'RUNNING' || isTerminalJobState(job.state)) {
        return { kind: 'next', output: { state: job.state } };
      }
      if (job.state !== 'ASSIGNED')
        return { kind: 'finish', output: { skipped: `job is ${job.state}` } };
      if (wake === 'deadline') {
        throw new SagaStepFailure(
          'SendRunJobCommand',
          'the worker did not acknowledge the run in time',
        );
      }
      if (!context.runSent) {
        try {
          deps.sessions.sendRun(job.workerId ?? '', job);
        } catch (error) {
          throw new SagaStepFailure('SendRunJobCommand', 'the worker has no open stream', {
            cause: error,
          });
        }
      }
      return {
        kind: 'wait',
        key: jobStartedKey(job.id, job.attempt),
        deadlineMs: deps.settings.dispatchAckTimeoutMs,
        context: { runSent: true },
      };
    },
  };
}

export function executionSaga(deps: SagaDeps): SagaDefinition<ExecutionContext, ExecutionMemo> {
  return {
    type: 'execution',
    steps: [
      validateJobState(deps),
      reserveWorker(deps),
      updateJobToAssigned(deps),
      sendRunJobCommand(deps),
    ],
  };
}
