// The saga engine: starts sagas, wakes waiting ones, resumes unfinished ones after a restart and
// sweeps passed deadlines; saga-run.ts runs a saga's steps, persisting every one, so that a crash
// anywhere resumes where it stopped. Sagas are the only orchestrators (invariant 2); ids are
// derived from what they are about, so a redelivered event never starts a second one (invariant 3).
//
// One process runs a given saga at a time: state changes are guarded (WAITING → IN_PROGRESS is
// claimed by exactly one caller), and within the process an `active` set serialises runs.
import type { Db } from '../db/db.js';
import type { OutboxWriter } from '../outbox/outbox-writer.js';
import { event } from '../events/catalog.js';
import type { Logger } from '../shared/logger.js';
import type { Clock } from '../shared/clock.js';
import { errorMessage } from '../shared/errors.js';
import type { Metrics } from '../metrics/metrics.js';
import type { SagaContext, SagaDefinition, SagaType, StepInput } from './saga.js';
import {
  claimExpiredWaits,
  claimWaitingByKey,
  claimWaitingSaga,
  findUnfinishedSagas,
  insertSagaStatement,
  type SagaRow,
} from './saga-sql.js';
import { createSagaRunner } from './saga-run.js';

export interface SagaEngineOptions {
  db: Db;
  outbox: OutboxWriter;
  logger: Logger;
  clock: Clock;
  metrics?: Metrics;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each definition has its own context type
  definitions: readonly SagaDefinition<any>[];
  sweepIntervalMs?: number;
  /** An IN_PROGRESS saga untouched this long, not running here, is resumed by the sweeper. */
  staleAfterMs?: number;
}

export interface SagaEngine {
  /** Creates the saga (once per id) and runs it; resolves when it completes or waits. */
  start(
    type: SagaType,
    id: string,
    correlationId: string,
    context: SagaContext,
    options?: {
      priority?: number;
      /** Created parked behind sagas already waiting, as its definition's parkBehind says. */
      parkBehind?: boolean;
    },
  ): Promise<'started' | 'exists'>;
  /** Runs the saga from where it is, if it is IN_PROGRESS or COMPENSATING. */
  run(id: string, wake?: StepInput<SagaContext>['wake']): Promise<void>;
  /** Wakes sagas waiting on `key` (only the oldest when `one`); returns how many woke. */
  wake(key: string, one: boolean): Promise<number>;
  /** Wakes this saga if it waits, whatever for; returns whether it woke. */
  wakeSaga(id: string): Promise<boolean>;
  /** Wakes sagas whose deadline passed and resumes stale ones. */
  sweep(): Promise<void>;
  /** Resumes every IN_PROGRESS and COMPENSATING saga (at start-up). */
  resumeAll(): Promise<number>;
  startLoops(): void;
  stop(): Promise<void>;
}

export function createSagaEngine(options: SagaEngineOptions): SagaEngine {
  const { db, outbox, logger, metrics } = options;
  const definitions = new Map(options.definitions.map((d) => [d.type, d as SagaDefinition]));
  const runner = createSagaRunner({ ...options, definition });
  const active = new Set<string>();
  const rerun = new Map<string, StepInput<SagaContext>['wake']>();
  const inFlight = new Set<Promise<void>>();
  let timer: NodeJS.Timeout | undefined;
  let stopping = false;

  function definition(type: SagaType): SagaDefinition {
    const def = definitions.get(type);
    if (!def) throw new Error(`no saga definition for type ${type}`);
    return def;
  }

  /** `loaded` is the saga's row when the caller has just read or written it (one read less). */
  async function run(
    id: string,
    wake?: StepInput<SagaContext>['wake'],
    loaded?: SagaRow,
  ): Promise<void> {
    if (active.has(id)) {
      // Running here already: run again when that run ends, so this wake-up is not lost.
      rerun.set(id, wake ?? rerun.get(id));
      return;
    }
    active.add(id);
    try {
      let next: StepInput<SagaContext>['wake'] | null = wake;
      let row = loaded;
      while (next !== null) {
        await runner.runOnce(id, next, row);
        row = undefined;
        if (rerun.has(id)) {
          next = rerun.get(id);
          rerun.delete(id);
        } else next = null;
      }
    } finally {
      active.delete(id);
      rerun.delete(id);
    }
  }

  function background(work: () => Promise<void>, what: string): void {
    const p = work()
      .catch((error: unknown) =>
        logger.warn({ error: errorMessage(error) }, `${what} failed; will retry`),
      )
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  }

  async function sweep(): Promise<void> {
    for (const row of await claimExpiredWaits(db, 100))
      background(() => run(row.id, 'deadline', row), 'saga deadline');
    for (const id of await findUnfinishedSagas(db, options.staleAfterMs ?? 5000)) {
      if (!active.has(id)) background(() => run(id), 'saga resume');
    }
  }

  return {
    async start(type, id, correlationId, context, startOptions = {}) {
      const park = startOptions.parkBehind ? definition(type).parkBehind : undefined;
      // One statement: the saga and its SagaStarted event, or nothing when it exists already.
      const [inserted] = await outbox.changeWithEvents(
        db,
        insertSagaStatement({
          id,
          type,
          correlationId,
          context,
          priority: startOptions.priority,
          ...(park
            ? {
                parkBehind: { key: park.key, deadlineMs: park.deadlineMs, onlyWhen: park.onlyWhen },
              }
            : {}),
        }),
        [event('SagaStarted', id, correlationId, { sagaId: id, sagaType: type })],
      );
      if (inserted) metrics?.sagas.inc({ type, outcome: 'started' });
      if (inserted?.state === 'WAITING') {
        // Parked at birth behind others: one look whether what they wait for is there now (it
        // may have come before the row), as after any wait.
        if (park && (await park.recheck()) && (await claimWaitingSaga(db, id)))
          await run(id, 'recheck');
        return 'started';
      }
      if (inserted || !active.has(id)) await run(id, undefined, inserted);
      return inserted ? 'started' : 'exists';
    },
    run: (id, wake) => run(id, wake),
    async wake(key, one) {
      const rows = await claimWaitingByKey(db, key, one);
      await Promise.all(rows.map((row) => run(row.id, 'event', row)));
      return rows.length;
    },
    async wakeSaga(id) {
      if (!(await claimWaitingSaga(db, id))) return false;
      await run(id, 'event');
      return true;
    },
    sweep,
    async resumeAll() {
      const ids = await findUnfinishedSagas(db, 0);
      for (const id of ids) background(() => run(id), 'saga resume');
      return ids.length;
    },
    startLoops() {
      stopping = false;
      const interval = options.sweepIntervalMs ?? 1000;
      timer = setInterval(() => {
        if (!stopping) background(sweep, 'saga sweep');
      }, interval);
      timer.unref();
    },
    async stop() {
      stopping = true;
      if (timer) clearInterval(timer);
      await Promise.allSettled([...inFlight]);
    },
  };
}
