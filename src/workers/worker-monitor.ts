// WorkerMonitor, the kill-switch (DESIGN §6): a worker whose stream dropped, whose process ended,
// or that missed its heartbeats is marked TERMINATED and its infrastructure destroyed, with
// WorkerLost in the same transaction; the RecoverySaga requeues its job. Idle READY workers past
// their TTL are retired. The monitor only marks, destroys and emits events (invariant 2).
// Silence of a worker whose stream is here is judged from memory (worker-liveness.ts), recorded
// as it arrives; the database keeps a copy (written once per interval for all workers), which is
// what judges workers whose stream is not here (left over from a previous server process).
import type { Db } from '../db/db.js';
import { workerLossCause, type Metrics } from '../metrics/metrics.js';
import type { OutboxWriter } from '../outbox/outbox-writer.js';
import type { Provider } from '../providers/provider.js';
import type { Logger } from '../shared/logger.js';
import { errorMessage } from '../shared/errors.js';
import { event, type JobRef } from '../events/catalog.js';
import { findJob } from '../jobs/job-sql.js';
import {
  findIdleWorkers,
  findLiveWorkerByExternalId,
  findSilentWorkers,
  recordLastSeen,
  retireIdleWorker,
  terminateWorker,
} from './worker-sql.js';
import type { WorkerLiveness } from './worker-liveness.js';

export interface WorkerMonitorOptions {
  db: Db;
  outbox: OutboxWriter;
  provider: Provider;
  liveness: WorkerLiveness;
  logger: Logger;
  heartbeatIntervalMs: number;
  missedHeartbeats: number;
  idleTtlMs: number;
  /** This server process's id: a lost worker whose stream another (gone) server held is lost
   * with that server, and its job's next attempt is not charged (WorkerLost `serverGone`). */
  serverInstance?: string;
  metrics?: Metrics;
}

export interface WorkerMonitor {
  /**
   * Kill-switch for one worker: TERMINATED, WorkerLost (naming its job when one is ASSIGNED or
   * RUNNING on it) and its infrastructure destroyed. `job` names a job the caller found still held
   * by the worker (the DatabaseReaper): WorkerLost then names that attempt even when the worker
   * was terminated before, since the earlier WorkerLost did not recover it. Returns whether a
   * WorkerLost was written.
   */
  workerLost(workerId: string, reason: string, job?: JobRef): Promise<boolean>;
  /** One pass over silent and idle workers. */
  check(): Promise<void>;
  start(): void;
  stop(): Promise<void>;
}

export function createWorkerMonitor(options: WorkerMonitorOptions): WorkerMonitor {
  const { db, outbox, provider, logger } = options;
  let timer: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;
  let checking: Promise<void> | undefined;
  const pending = new Set<Promise<unknown>>();

  async function workerLost(workerId: string, reason: string, lostJob?: JobRef): Promise<boolean> {
    const lost = await db.transaction(async (tx) => {
      const was = await terminateWorker(tx, workerId, reason);
      const jobId = lostJob?.jobId ?? was?.currentJobId;
      const job = jobId ? await findJob(tx, jobId) : undefined;
      const live =
        job &&
        (job.state === 'ASSIGNED' || job.state === 'RUNNING') &&
        job.workerId === workerId &&
        (!lostJob || job.attempt === lostJob.attempt);
      // Terminated before: only a job it still holds is worth another WorkerLost.
      if (!was && !live) return undefined;
      const serverGone =
        options.serverInstance !== undefined &&
        !!was?.serverInstance &&
        was.serverInstance !== options.serverInstance;
      await outbox.append(tx, [
        event('WorkerLost', workerId, job?.correlationId ?? was?.correlationId ?? '', {
          workerId,
          reason: serverGone ? `${reason} (its server went away)` : reason,
          ...(live ? { jobId: job.id, attempt: job.attempt } : {}),
          ...(serverGone ? { serverGone: true } : {}),
        }),
      ]);
      return { was, jobId: live ? job.id : undefined };
    });
    options.liveness.forget(workerId);
    if (!lost) return false;
    if (lost.was) options.metrics?.workersLost.inc({ cause: workerLossCause(reason) });
    logger.warn({ workerId, reason, jobId: lost.jobId }, 'worker lost; terminated');
    if (lost.was?.externalId) await provider.destroy(lost.was.externalId);
    return true;
  }

  async function retire(workerId: string): Promise<void> {
    const retired = await db.transaction(async (tx) => {
      const worker = await retireIdleWorker(tx, workerId, options.idleTtlMs);
      if (worker) {
        await outbox.append(tx, [
          event('WorkerTerminated', workerId, worker.correlationId, { workerId, reason: 'idle' }),
        ]);
      }
      return worker;
    });
    if (!retired) return;
    logger.info({ workerId }, 'idle worker retired');
    if (retired.externalId) await provider.destroy(retired.externalId);
  }

  async function check(): Promise<void> {
    const silentMs = options.heartbeatIntervalMs * options.missedHeartbeats;
    const reason = `missed ${options.missedHeartbeats} heartbeats`;
    const { alive, silent } = options.liveness.check(silentMs);
    for (const workerId of silent) await workerLost(workerId, reason);
    await recordLastSeen(db, alive);
    for (const worker of await findSilentWorkers(db, silentMs)) {
      if (!options.liveness.isTracked(worker.id)) await workerLost(worker.id, reason);
    }
    for (const worker of await findIdleWorkers(db, options.idleTtlMs)) await retire(worker.id);
  }

  function track(work: Promise<unknown>): void {
    const p = work
      .catch((error: unknown) =>
        logger.warn({ error: errorMessage(error) }, 'worker monitor action failed'),
      )
      .finally(() => pending.delete(p));
    pending.add(p);
  }

  return {
    workerLost,
    check,
    start() {
      unsubscribe = provider.onExit((exit) => {
        track(
          (async () => {
            const worker = await findLiveWorkerByExternalId(db, provider.name, exit.externalId);
            if (worker) {
              const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
              await workerLost(worker.id, `worker process exited (${how})`);
            }
          })(),
        );
      });
      timer = setInterval(() => {
        if (checking) return;
        checking = check()
          .catch((error: unknown) =>
            logger.warn({ error: errorMessage(error) }, 'worker check failed'),
          )
          .finally(() => (checking = undefined));
      }, options.heartbeatIntervalMs);
      timer.unref();
    },
    async stop() {
      unsubscribe?.();
      if (timer) clearInterval(timer);
      await checking;
      await Promise.allSettled([...pending]);
    },
  };
}
