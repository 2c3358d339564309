// The InfrastructureReconciler (DESIGN §6): every interval (5 min by default) and once at start it
// compares what the provider runs (Provider.inventory: this installation's workers, whoever
// started them) with the workers table, and removes the differences:
// - infrastructure of a TERMINATED worker → destroyed;
// - infrastructure no worker row knows (a worker id with no row, or a process of a known worker
//   that is not the one its row records: left over by a create that crashed) → destroyed;
// - a READY or BUSY worker whose infrastructure is gone → the kill-switch (WorkerLost through
//   the outbox; the RecoverySaga requeues its job), the same path as a worker process exiting.
// CREATING workers are the DatabaseReaper's. Invariant 2: the reconciler only destroys and emits
// events. With several servers one reconciler runs a round at a time (an advisory lock).
import type { Db } from '../db/db.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Provider, WorkerInfrastructure } from '../providers/provider.js';
import type { WorkerMonitor } from '../workers/worker-monitor.js';
import type { WorkerRecord } from '../workers/worker.js';
import { isUuid } from '../shared/ids.js';
import { findWorkersByIds, listLiveWorkers } from '../workers/worker-sql.js';
import { SINGLETON_LOCKS } from './singleton-round.js';
import { createSafetyLoop, type SafetyLoop } from './safety-loop.js';

export interface InfrastructureReconcilerOptions {
  db: Db;
  provider: Provider;
  /** The kill-switch (workers/worker-monitor.ts). */
  monitor: Pick<WorkerMonitor, 'workerLost'>;
  logger: Logger;
  metrics?: Metrics;
  /** Between rounds (HODEI_RECONCILE_INTERVAL); 0: only the round at start. */
  intervalMs: number;
}

/** What one round did, per action (the action names are the metric's labels). */
export interface ReconcileRound {
  destroy_terminated: number;
  destroy_unknown: number;
  destroy_leftover: number;
  worker_lost: number;
}

export type InfrastructureReconciler = SafetyLoop<ReconcileRound>;

type DestroyAction = 'destroy_terminated' | 'destroy_unknown' | 'destroy_leftover';

/** Why this infrastructure should not exist, or undefined when its worker row stands for it. */
function destroyVerdict(
  found: WorkerInfrastructure,
  worker: WorkerRecord | undefined,
): DestroyAction | undefined {
  if (!worker) return 'destroy_unknown';
  if (worker.state === 'TERMINATED') return 'destroy_terminated';
  // A CREATING row may be between the provider's create and recording its id: not judged here.
  if (worker.state !== 'CREATING' && worker.externalId !== found.externalId) {
    return 'destroy_leftover';
  }
  return undefined;
}

export function createInfrastructureReconciler(
  options: InfrastructureReconcilerOptions,
): InfrastructureReconciler {
  const { db, provider, monitor, logger, metrics } = options;

  function done(counts: ReconcileRound, action: keyof ReconcileRound, fields: object, msg: string) {
    counts[action] += 1;
    metrics?.safetyNetActions.inc({ net: 'reconciler', action });
    logger.warn({ net: 'reconciler', action, ...fields }, msg);
  }

  async function round(): Promise<ReconcileRound> {
    const counts: ReconcileRound = {
      destroy_terminated: 0,
      destroy_unknown: 0,
      destroy_leftover: 0,
      worker_lost: 0,
    };
    // Rows first, then the inventory: a worker read here as READY or BUSY had its infrastructure
    // before, so the inventory lists it if it still runs.
    const serving = (await listLiveWorkers(db)).filter(
      (w) => w.provider === provider.name && (w.state === 'READY' || w.state === 'BUSY'),
    );
    const inventory = await provider.inventory();
    const ids = [...new Set(inventory.map((i) => i.workerId).filter(isUuid))];
    // Rows after the inventory: a row exists before its infrastructure is created.
    const rows = new Map((await findWorkersByIds(db, ids)).map((w) => [w.id, w]));

    for (const found of inventory) {
      const worker = rows.get(found.workerId);
      const action = destroyVerdict(found, worker);
      if (!action) continue;
      await provider.destroy(found.externalId);
      done(
        counts,
        action,
        { workerId: found.workerId, externalId: found.externalId, state: worker?.state ?? null },
        'worker infrastructure no live worker stands for; destroyed',
      );
    }

    const running = new Set(inventory.map((i) => `${i.workerId}/${i.externalId}`));
    for (const worker of serving) {
      if (running.has(`${worker.id}/${worker.externalId}`)) continue;
      if (await monitor.workerLost(worker.id, 'its infrastructure is gone')) {
        done(
          counts,
          'worker_lost',
          { workerId: worker.id, externalId: worker.externalId, state: worker.state },
          'worker infrastructure gone; worker lost',
        );
      }
    }
    return counts;
  }

  return createSafetyLoop({
    net: 'reconciler',
    db,
    lockKey: SINGLETON_LOCKS.reconciler,
    intervalMs: options.intervalMs,
    logger,
    metrics,
    round,
  });
}
