// ExecutionSaga (DESIGN §5.4): ValidateJobState → ReserveWorker → UpdateJobToAssigned →
// SendRunJobCommand. The only path from PENDING to a running command. A retried attempt waits out
// its backoff in ValidateJobState. With a READY worker, ValidateJobState's one statement reads the
// job, reserves the worker and assigns the job (decision 0026; for a new saga, the statement that
// creates it, decision 0027; for a saga woken by a WorkerReady, the hand-off that wakes it,
// decision 0028); the next two steps find it done.
//
// A dispatch is never left half done. Any step may run again — its record is written in the
// background (step-progress.ts) and a crash can lose it, a redelivery or a stale-saga resume can
// repeat it — so each step first looks at how far the dispatch got: the worker already BUSY for
// the job is the one reserved (no second claim), and a job already ASSIGNED at this attempt goes on
// to its RUN. If the RUN cannot be sent (the worker has no stream here, as after a restart) or is
// not acknowledged within `dispatchAckTimeoutMs` (a WAITING deadline, re-armed from the database
// after a restart), compensation requeues the job (attempt + 1, or FAILED when attempts are used
// up) and terminates its worker in one transaction, so the next attempt never finds it BUSY. The
// job's secrets are opened just before the RUN (dispatch-secrets.ts): a job whose secrets this
// server's key cannot open ends FAILED saying so.
import { event } from '../events/catalog.js';
import { findJob, assignJobStatement, jobMovedOn, requeueJob } from '../jobs/job-sql.js';
import type { JobRecord } from '../jobs/job.js';
import {
  anyReadyWorker,
  atWorkerCap,
  claimWorkerForJob,
  findWorker,
  handOffReadyWorkersStatement,
  insertSagasDispatchingStatement,
  readJobAssigningWorker,
  usefulWorkerWaits,
} from '../workers/worker-sql.js';
import type { WorkerRecord } from '../workers/worker.js';
import { isTerminalJobState } from '../jobs/job-state.js';
import { HodeiError } from '../shared/errors.js';
import { SagaStepFailure, type SagaDefinition, type SagaMemo, type SagaStep } from './saga.js';
import { WORKER_READY_KEY, jobStartedKey, retryDueKey, type SagaDeps } from './saga-deps.js';
import {
  destroyDispatchWorker,
  giveBackDispatchWorker,
  terminateDispatchWorker,
} from './dispatch-worker.js';
import { secretsForRun } from './dispatch-secrets.js';

export interface ExecutionContext extends Record<string, unknown> {
  jobId: string;
  attempt: number;
  workerId?: string;
  /** How many provisioning requests this attempt has made (part of each request's id). */
  provisionRequests?: number;
  /** How many times its wait for a worker ran out (each next wait is longer). */
  workerWaits?: number;
  runSent?: boolean;
}

/** The job as this run last read or wrote it (saga memo): spares the next step a read. */
interface ExecutionMemo extends SagaMemo {
  job: JobRecord;
  /** The worker ValidateJobState reserved as it read the job (ReserveWorker's claim, made in the
   * same statement), or none and how many workers are alive; taken by ReserveWorker. */
  reservation?: { worker: WorkerRecord | undefined; liveWorkers: number };
}

type Step = SagaStep<ExecutionContext, ExecutionMemo>;

/** Another run of this saga, at the same time, assigned the job to the worker it reserved. This
 * run gave its own worker back and stops; the other goes on. Not a step failure: there is
 * nothing to compensate, the dispatch is the other run's. */
export class DispatchTakenError extends HodeiError {
  constructor(ref: { jobId: string; attempt: number; workerId: string; assignedTo: string }) {
    super(
      'JOB_ILLEGAL_TRANSITION',
      `job ${ref.jobId} attempt ${ref.attempt} was assigned to worker ${ref.assignedTo} by another run of its saga`,
      ref,
    );
  }
}

/** The job is this attempt's and ASSIGNED: only this saga (its id is derived from the job and the
 * attempt) assigns it, so an earlier run got that far before its step records were lost. */
function assignedHere(job: JobRecord, attempt: number): boolean {
  return job.attempt === attempt && job.state === 'ASSIGNED' && job.workerId !== null;
}

/** A retried job waits out its backoff here: parked until retry_at (a deadline the engine
 * re-arms after a restart), then the job is read again, so a cancel meanwhile ends the saga. */
function retryWaitMs(job: JobRecord, now: number): number {
  return job.state === 'PENDING' && job.retryAt ? job.retryAt.getTime() - now : 0;
}

function validateJobState(deps: SagaDeps): Step {
  /** A saga parked at birth is woken here with the worker a hand-off reserved for its job: one
   * that goes no further than this step gives it back. */
  const giveBack = (given: string | undefined, jobId: string, correlationId: string) =>
    given
      ? giveBackDispatchWorker(deps, { workerId: given, jobId, correlationId, runSent: false })
      : Promise.resolve();
  return {
    name: 'ValidateJobState',
    async execute({ context, memo, given, correlationId }) {
      // A hand-off read the job in the statement that woke the saga, or the statement that
      // created it took this look (decision 0027): its memo. Otherwise the job is read, and
      // dispatched as far as it can be, in one statement (decision 0026): when it is this
      // attempt's, PENDING and due, a worker is reserved for it (ReserveWorker's claim, left in
      // the memo for that step) and the job assigned to it with its JobAssigned
      // (UpdateJobToAssigned's change, which that step then finds done).
      let job = memo.job;
      let reserved = memo.reservation?.worker;
      if (!job) {
        const { jobId, attempt } = context;
        const [read] = await deps.outbox.changeWithRowEvents(
          deps.db,
          readJobAssigningWorker(jobId, attempt),
          // Its workerId is filled in by the statement: the worker it reserved.
          [
            {
              ...event('JobAssigned', jobId, correlationId, { jobId, attempt, workerId: '' }),
              row: jobId,
              fill: { workerId: 'id' },
            },
          ],
          'job_id',
        );
        job = read?.job;
        if (read?.reservation) {
          memo.reservation = read.reservation;
          reserved = read.reservation.worker;
        }
      }
      if (
        job &&
        (assignedHere(job, context.attempt) ||
          (job.attempt === context.attempt && job.state === 'PENDING'))
      ) {
        const waitMs = retryWaitMs(job, Date.now());
        if (waitMs > 0) {
          // The database's clock found the backoff over, this process's not: the worker that
          // statement reserved goes back too.
          await giveBack(given ?? reserved?.id, context.jobId, correlationId);
          delete memo.reservation;
          // Only its deadline ends this wait: nothing to look at again once parked.
          return {
            kind: 'wait',
            key: retryDueKey(job.id, job.attempt),
            deadlineMs: waitMs,
            recheck: () => Promise.resolve(false),
          };
        }
        memo.job = job;
        return { kind: 'next' };
      }
      await giveBack(given ?? reserved?.id, context.jobId, correlationId);
      return {
        kind: 'finish',
        output: {
          skipped: job ? `job is ${job.state} (attempt ${job.attempt})` : 'job not found',
        },
      };
    },
  };
}

/** The longest wait for a worker, in multiples of the first one. */
export const WORKER_WAIT_BACKOFF_LIMIT = 8;

/** How long a saga waits for a worker after `waits` earlier waits ran out: the setting, doubled
 * each time, up to WORKER_WAIT_BACKOFF_LIMIT times it. */
export function workerWaitMs(firstMs: number, waits: number): number {
  return firstMs * Math.min(2 ** Math.max(0, waits), WORKER_WAIT_BACKOFF_LIMIT);
}

function reserveWorker(deps: SagaDeps): Step {
  return {
    name: 'ReserveWorker',
    async execute({ context, correlationId, wake, memo, given }) {
      // Woken by a hand-off: the worker is reserved for this job already (BUSY for it), and the
      // job assigned to it when it waited for one (decision 0028). Without the job in the memo
      // it is not read for it: UpdateJobToAssigned assigns it only if it is still this attempt's
      // and PENDING, and otherwise compensation gives the worker back. When this run has read
      // the job already and it is not waiting for this worker (assigned before a crash), the
      // worker goes back at once.
      const known = memo.job;
      if (given) {
        if (known && assignedHere(known, context.attempt) && known.workerId === given)
          return {
            kind: 'next',
            context: { workerId: given },
            output: { workerId: given, handedOff: true, assigned: true },
          };
        if (!known || (known.state === 'PENDING' && known.attempt === context.attempt))
          return {
            kind: 'next',
            context: { workerId: given },
            output: { workerId: given, handedOff: true },
          };
        await giveBackDispatchWorker(deps, {
          workerId: given,
          jobId: context.jobId,
          correlationId,
          runSent: false,
        });
      }
      const job = known ?? (await findJob(deps.db, context.jobId));
      if (job?.workerId && assignedHere(job, context.attempt)) {
        const workerId = job.workerId;
        // Reserved and assigned by ValidateJobState's statement, or by a run before a crash.
        const claimedHere = memo.reservation?.worker?.id === workerId;
        delete memo.reservation;
        return {
          kind: 'next',
          context: { workerId },
          output: claimedHere ? { workerId, assigned: true } : { workerId, reserved: 'before' },
        };
      }
      if (!job || job.attempt !== context.attempt || job.state !== 'PENDING') {
        return { kind: 'finish', output: { skipped: `job is ${job?.state ?? 'gone'}` } };
      }
      // The worker held for the job if an earlier run reserved one, else a READY one: claimed
      // with the job's read in ValidateJobState when this run read it there.
      const { worker, liveWorkers } =
        memo.reservation ?? (await claimWorkerForJob(deps.db, context.jobId));
      delete memo.reservation;
      if (worker)
        return { kind: 'next', context: { workerId: worker.id }, output: { workerId: worker.id } };
      // No free worker: ask for one while under the cap (the ProvisioningSaga enforces the cap
      // atomically; this check only avoids pointless requests), then wait for any WorkerReady.
      // Only the first look and a passed deadline ask again: a recheck or a WorkerReady that
      // another saga won must not multiply requests.
      let requests = context.provisionRequests ?? 0;
      const mayRequest = wake === undefined || wake === 'deadline';
      if (mayRequest && liveWorkers < deps.settings.maxWorkers) {
        requests += 1;
        const requestId = `${context.jobId}:${context.attempt}:${requests}`;
        // A statement of its own (it changes nothing else): committed as it returns, so local
        // delivery starts the ProvisioningSaga here without waiting for the bus.
        await deps.outbox.append(deps.db, [
          event('WorkerProvisioningRequested', requestId, correlationId, {
            requestId,
            provider: deps.provider.name,
            jobId: context.jobId,
          }),
        ]);
      }
      // A WorkerReady wakes the oldest waiting saga at once; the deadline is the safety net (and
      // the next provisioning request), so it backs off while the wait goes on: a long backlog
      // of parked sagas does not re-run every few seconds.
      const waits = (context.workerWaits ?? 0) + (wake === 'deadline' ? 1 : 0);
      return {
        kind: 'wait',
        key: WORKER_READY_KEY,
        deadlineMs: workerWaitMs(deps.settings.workerWaitMs, waits),
        context: { provisionRequests: requests, workerWaits: waits },
        // A worker freed between the claim and the WAITING row woke no one: look again then.
        recheck: () => anyReadyWorker(deps.db),
      };
    },
    // Runs when the job was not assigned (cancelled meanwhile), or after UpdateJobToAssigned's
    // compensation, which has already terminated the worker (then this finds nothing to do).
    async compensate({ context, correlationId }) {
      if (!context.workerId) return;
      await giveBackDispatchWorker(deps, {
        workerId: context.workerId,
        jobId: context.jobId,
        correlationId,
        runSent: context.runSent === true,
      });
    },
  };
}

function updateJobToAssigned(deps: SagaDeps): Step {
  return {
    name: 'UpdateJobToAssigned',
    async execute({ context, correlationId, memo }) {
      const { jobId, attempt, workerId } = context;
      if (!workerId) throw new SagaStepFailure('UpdateJobToAssigned', 'no worker reserved');
      // Assigned to this worker already, as this run read it (by ValidateJobState's statement,
      // or before a crash): SendRunJobCommand takes it on.
      if (memo.job && assignedHere(memo.job, attempt) && memo.job.workerId === workerId)
        return { kind: 'next' };
      // One statement: the job ASSIGNED and its JobAssigned event, or nothing if not PENDING.
      const [assigned] = await deps.outbox.changeWithEvents(
        deps.db,
        assignJobStatement(jobId, attempt, workerId),
        [event('JobAssigned', jobId, correlationId, { jobId, attempt, workerId })],
      );
      if (assigned) {
        memo.job = assigned;
        return { kind: 'next' };
      }
      const job = await findJob(deps.db, jobId);
      if (job && job.attempt === attempt && job.workerId === workerId) {
        memo.job = job;
        return { kind: 'next' }; // this step ran before a crash; SendRunJobCommand takes it on
      }
      if (job?.workerId && job.attempt === attempt && job.state !== 'PENDING') {
        // Two runs of this saga overlapped and each claimed a worker (worker-sql.ts,
        // claimWorkerForJob); the job row let only the other one assign.
        await giveBackDispatchWorker(deps, { workerId, jobId, correlationId, runSent: false });
        throw new DispatchTakenError({ jobId, attempt, workerId, assignedTo: job.workerId });
      }
      throw new SagaStepFailure(
        'UpdateJobToAssigned',
        `job is ${job?.state ?? 'gone'}, no longer PENDING`,
      );
    },
    // The RUN was not sent or not acknowledged in time: the job goes back to PENDING (or FAILED)
    // and its worker is terminated, in one transaction, so that when JobRequeued starts the next
    // attempt no worker is BUSY for the job any more (the next claim must not find this one).
    async compensate({ context, correlationId }) {
      const { jobId, attempt, workerId } = context;
      const terminated = await deps.db.transaction(async (tx) => {
        // A worker whose stream another server held, gone since (a crash), failed no one: the
        // requeue is not charged to the job's max_attempts.
        const worker = workerId ? await findWorker(tx, workerId) : undefined;
        const serverGone =
          deps.serverInstance !== undefined &&
          !!worker?.serverInstance &&
          worker.serverInstance !== deps.serverInstance;
        const reason = serverGone
          ? 'dispatch to the worker failed (its server went away)'
          : 'dispatch to the worker failed';
        const job = await requeueJob(
          tx,
          { jobId, attempt },
          serverGone ? 'SERVER_LOST' : 'DISPATCH_FAILED',
          reason,
        );
        // Not this attempt's any more (finished, cancelled, or requeued by a RecoverySaga).
        if (!job) return undefined;
        const ref = { jobId: job.id, attempt: job.attempt };
        const undone = workerId
          ? await terminateDispatchWorker(tx, { workerId, jobId, reason })
          : undefined;
        await deps.outbox.append(tx, [
          job.state === 'PENDING'
            ? event('JobRequeued', job.id, correlationId, { ...ref, reason })
            : event('JobFailed', job.id, correlationId, { ...ref, error: job.error }),
          ...(undone ? [undone.event] : []),
        ]);
        return undone && { worker: undone.worker, reason };
      });
      if (terminated) await destroyDispatchWorker(deps, terminated.worker, terminated.reason);
    },
  };
}

function sendRunJobCommand(deps: SagaDeps): Step {
  return {
    name: 'SendRunJobCommand',
    // Its wait on the job's start ends with the start (or the run's end): the saga processor
    // completes it in one statement (decision 0026), as the execute below would after waking.
    finishOnEvent: { output: { started: true } },
    async execute({ context, wake, memo }) {
      // Woken by its key after the RUN: the job's JobStarted (or its end, or a retry of it) is
      // written, so it moved past ASSIGNED at this attempt; nothing to read.
      if (wake === 'event' && context.runSent) return { kind: 'next', output: { started: true } };
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
        const workerId = job.workerId ?? '';
        const secrets = await secretsForRun(deps, job, workerId);
        if (!secrets) return { kind: 'finish', output: { failed: 'secrets cannot be read' } };
        // Fails at once when the worker has no stream in this process (after a restart none
        // has): compensation requeues the job rather than leave it ASSIGNED.
        try {
          deps.sessions.sendRun(workerId, job, secrets);
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
        // The acknowledgement may have come before the WAITING row: the job moved on then. Looked
        // at in the statement that parks the saga, the job's row locked: every event that wakes
        // this wait changes that row (decision 0026).
        recheckInPark: jobMovedOn(job.id, job.attempt),
      };
    },
  };
}

export function executionSaga(deps: SagaDeps): SagaDefinition<ExecutionContext, ExecutionMemo> {
  return {
    type: 'execution',
    // A new attempt's saga while others wait for a worker and no more can be made (the cap is
    // reached): parked behind them at once (its job is read and a worker claimed when a
    // WorkerReady wakes it), with the longest wait. Under the cap it runs, and asks for a worker.
    parkBehind: {
      key: WORKER_READY_KEY,
      deadlineMs: workerWaitMs(deps.settings.workerWaitMs, WORKER_WAIT_BACKOFF_LIMIT),
      recheck: () => anyReadyWorker(deps.db),
      onlyWhen: atWorkerCap(deps.settings.maxWorkers),
    },
    // Its steps between two rests take milliseconds (decision 0020).
    recordStepsAtRest: true,
    // Created IN_PROGRESS, it reads its job and dispatches it to a READY worker in the statement
    // that creates it (decision 0027): ValidateJobState finds the job in its memo, ReserveWorker
    // and UpdateJobToAssigned the work done.
    startLook: {
      statement: insertSagasDispatchingStatement,
      events: (saga) => {
        const { jobId, attempt } = saga.context as ExecutionContext;
        // Its workerId is filled in by the statement: the worker it reserved.
        return [
          {
            ...event('JobAssigned', jobId, saga.correlationId, { jobId, attempt, workerId: '' }),
            fill: { workerId: 'worker_id' },
          },
        ];
      },
    },
    // A WorkerReady reserves the worker for the oldest waiting saga as it wakes it, and assigns
    // it its job when the job waits for one (decision 0028): ReserveWorker and
    // UpdateJobToAssigned then find the work done.
    handOff: {
      key: WORKER_READY_KEY,
      claim: (limit) => handOffReadyWorkersStatement(WORKER_READY_KEY, limit),
      event: {
        type: 'JobAssigned',
        aggregate: 'job_id',
        payload: { jobId: 'job_id', attempt: 'job_attempt', workerId: 'given' },
      },
    },
    // A passed deadline of a wait for a worker lets the saga claim a READY worker the hand-off
    // missed, or ask for one under the cap: only as many as there are READY workers and room
    // under the cap are woken, oldest first; the others stay parked, since each could only park
    // again (decision 0023). A job cancelled meanwhile wakes its saga by its own event.
    idleDeadline: {
      key: WORKER_READY_KEY,
      useful: usefulWorkerWaits(deps.settings.maxWorkers),
    },
    steps: [
      validateJobState(deps),
      reserveWorker(deps),
      updateJobToAssigned(deps),
      sendRunJobCommand(deps),
    ],
  };
}
