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
import type { SagaContext, SagaDefinition, SagaMemo, SagaType, StepInput } from './saga.js';
import {
  claimExpiredWaits,
  claimWaitingByKey,
  claimWaitingSaga,
  countNow,
  findUnfinishedSagas,
  finishWaitingStatement,
  insertSagasStatement,
  type NewSaga,
  type SagaRow,
} from './saga-sql.js';
import { createBatcher, type Batcher } from '../shared/batcher.js';
import { runStatement } from '../db/statement.js';
import { isTransientDbError } from '../db/transient-error.js';
import { traceparentFor } from '../telemetry/tracing.js';
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
  /**
   * An event with `key` came for this saga of `type`: if it waits on that key at the step that
   * declares `finishOnEvent`, it is completed in one statement (with its SagaCompleted); returns
   * whether it was. Not waiting there (running, done, elsewhere in its steps): nothing, false.
   */
  finishWaiting(type: SagaType, id: string, key: string, correlationId: string): Promise<boolean>;
  /** Wakes sagas whose deadline passed and resumes stale ones. */
  sweep(): Promise<void>;
  /** Resumes every IN_PROGRESS and COMPENSATING saga (at start-up). */
  resumeAll(): Promise<number>;
  startLoops(): void;
  stop(): Promise<void>;
}

/** The most sagas started in one statement. */
const START_BATCH = 256;

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

  /** `loaded` is the saga's row when the caller has just read or written it (one read less);
   * `handed`, what a hand-off gave it (StepInput.given) and the rows it read, or what the first
   * look of the statement that created it found (its memo). */
  async function run(
    id: string,
    wake?: StepInput<SagaContext>['wake'],
    loaded?: SagaRow,
    handed?: { given?: string; memo?: SagaMemo },
  ): Promise<void> {
    if (active.has(id)) {
      // Running here already: run again when that run ends, so this wake-up is not lost. (What
      // a hand-off gave it is its own in the database: its step finds it there.)
      rerun.set(id, wake ?? rerun.get(id));
      return;
    }
    active.add(id);
    try {
      let next: StepInput<SagaContext>['wake'] | null = wake;
      let row = loaded;
      let first = handed;
      while (next !== null) {
        await runner.runOnce(id, next, row, first);
        row = undefined;
        first = undefined;
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

  // Sagas started at the same moment (the JobQueued of many QueueJob calls, of a QueueJobs
  // batch) are inserted with their SagaStarted events in one statement, per type and way of
  // starting; those parked at birth share one re-check, read after all of them were written
  // (decision 0020).
  interface Starter {
    /** Each saga with the trace its SagaStarted belongs to; the row inserted (none when it
     * existed) and what its first look found (SagaDefinition.startLook). */
    insert: Batcher<
      NewSaga & { traceparent: string },
      { row: SagaRow; memo?: SagaMemo } | undefined
    >;
    /** Looks whether what parked sagas wait for is there; if so, wakes the oldest waiter. */
    recheck: () => Promise<void>;
  }
  const starters = new Map<string, Starter>();
  function starter(type: SagaType, parked: boolean): Starter {
    const key = `${type}:${parked}`;
    const known = starters.get(key);
    if (known) return known;
    const def = definition(type);
    const park = parked ? def.parkBehind : undefined;
    const where = park && { key: park.key, deadlineMs: park.deadlineMs, onlyWhen: park.onlyWhen };
    const started = (saga: NewSaga & { traceparent: string }) => ({
      ...event('SagaStarted', saga.id, saga.correlationId, { sagaId: saga.id, sagaType: type }),
      traceparent: saga.traceparent,
    });
    const inserted = async (
      starts: ReadonlyArray<NewSaga & { traceparent: string }>,
    ): Promise<Array<{ row: SagaRow; memo?: SagaMemo }>> => {
      // The same saga started twice at once (a redelivery): inserted, with its events, once.
      const sagas = [...new Map(starts.map((saga) => [saga.id, saga])).values()];
      const look = def.startLook;
      if (!look)
        return (
          await outbox.changeWithEventsPerRow(
            db,
            insertSagasStatement(sagas, where),
            sagas.map(started),
          )
        ).map((row) => ({ row }));
      return (
        await outbox.changeWithRowEvents(
          db,
          look.statement(sagas, where),
          sagas.flatMap((saga) => [
            { ...started(saga), row: saga.id },
            ...look
              .events(saga)
              .map((e) => ({ ...e, traceparent: saga.traceparent, row: saga.id })),
          ]),
        )
      ).map(({ saga, memo }) => ({ row: saga, memo }));
    };
    const insert = async (sagas: ReadonlyArray<NewSaga & { traceparent: string }>) => {
      const rows = await inserted(sagas);
      // The same saga started twice at once (a redelivery): the first start made it.
      const byId = new Map<string, { row: SagaRow; memo?: SagaMemo } | undefined>(
        rows.map((made) => [made.row.id, made]),
      );
      return sagas.map((saga) => {
        const made = byId.get(saga.id);
        byId.set(saga.id, undefined);
        return made;
      });
    };
    // As a WorkerReady would: the oldest waiter goes (not every saga that just parked, which
    // would only race each other for it).
    const recheckParked = createBatcher<null, void>({
      maxBatch: START_BATCH,
      concurrency: 1,
      run: async (calls) => {
        if (park && (await park.recheck()))
          background(() => wake(park.key, true).then(), 'saga wake');
        return calls.map(() => undefined);
      },
    });
    const made: Starter = {
      insert: createBatcher({
        maxBatch: START_BATCH,
        concurrency: 2,
        run: insert,
        alone: async (saga) => (await insert([saga]))[0],
        retryAlone: (error) => !isTransientDbError(error),
      }),
      recheck: () => recheckParked(null),
    };
    starters.set(key, made);
    return made;
  }

  /** The most sagas one hand-off wakes. */
  const HAND_OFF_LIMIT = 16;
  const handOffs = new Map(
    options.definitions.flatMap((d) => (d.handOff ? [[d.handOff.key, d.handOff] as const] : [])),
  );

  /** Wakes sagas waiting on `key` (only the oldest when `one`), or as many as there is something
   * free for when their definition hands it off; returns how many woke. */
  async function wake(key: string, one: boolean): Promise<number> {
    const handOff = handOffs.get(key);
    if (handOff) {
      const claim = handOff.claim(HAND_OFF_LIMIT);
      const handed = handOff.event
        ? await outbox.changeWithBuiltEvents(db, claim, handOff.event)
        : await runStatement(db, claim);
      await Promise.all(
        handed.map(({ saga, given, memo }) => run(saga.id, 'event', saga, { given, memo })),
      );
      return handed.length;
    }
    const rows = await claimWaitingByKey(db, key, one ? 1 : 1000);
    await Promise.all(rows.map((row) => run(row.id, 'event', row)));
    return rows.length;
  }

  /** The most passed deadlines one sweep wakes (per kind). */
  const SWEEP_LIMIT = 100;
  const idleDeadlines = options.definitions.flatMap((d) =>
    d.idleDeadline ? [d.idleDeadline] : [],
  );
  if (idleDeadlines.length > 1)
    throw new Error('only one saga definition per engine may have an idleDeadline');
  const idleDeadline = idleDeadlines[0];

  /** Passed deadlines to wake: every key's but the idle one's, and of the idle key's as many as
   * could be of use now. */
  async function expiredWaits(): Promise<SagaRow[]> {
    if (!idleDeadline) return claimExpiredWaits(db, SWEEP_LIMIT);
    const others = await claimExpiredWaits(db, SWEEP_LIMIT, idleDeadline.key);
    const useful = Math.min(SWEEP_LIMIT, await countNow(db, idleDeadline.useful));
    if (useful <= 0) return others;
    return [...others, ...(await claimWaitingByKey(db, idleDeadline.key, useful, true))];
  }

  async function sweep(): Promise<void> {
    for (const row of await expiredWaits())
      background(() => run(row.id, 'deadline', row), 'saga deadline');
    for (const id of await findUnfinishedSagas(db, options.staleAfterMs ?? 5000)) {
      if (!active.has(id)) background(() => run(id), 'saga resume');
    }
  }

  return {
    async start(type, id, correlationId, context, startOptions = {}) {
      const park = startOptions.parkBehind ? definition(type).parkBehind : undefined;
      const start = starter(type, park !== undefined);
      const inserted = await start.insert({
        id,
        type,
        correlationId,
        context,
        priority: startOptions.priority,
        traceparent: traceparentFor(correlationId),
      });
      if (inserted) metrics?.sagas.inc({ type, outcome: 'started' });
      if (inserted?.row.state === 'WAITING') {
        // Parked at birth behind others: one look whether what they wait for is there now (it
        // may have come before the row), as after any wait.
        await start.recheck();
        return 'started';
      }
      if (inserted || !active.has(id))
        await run(id, undefined, inserted?.row, inserted?.memo && { memo: inserted.memo });
      return inserted ? 'started' : 'exists';
    },
    run: (id, wake) => run(id, wake),
    wake,
    async wakeSaga(id) {
      if (!(await claimWaitingSaga(db, id))) return false;
      // Not the event it waits for: its step looks again.
      await run(id, 'recheck');
      return true;
    },
    sweep,
    async finishWaiting(type, id, key, correlationId) {
      const steps = definition(type).steps;
      const index = steps.findIndex((step) => step.finishOnEvent !== undefined);
      const step = steps[index];
      if (!step?.finishOnEvent || index !== steps.length - 1)
        throw new Error(`saga type ${type} has no last step that finishes on its event`);
      const [finished] = await outbox.changeWithEvents(
        db,
        finishWaitingStatement(
          { id, key, correlationId },
          { index, name: step.name, output: step.finishOnEvent.output },
        ),
        [event('SagaCompleted', id, correlationId, { sagaId: id, sagaType: type })],
      );
      if (finished) metrics?.sagas.inc({ type, outcome: 'completed' });
      return finished !== undefined;
    },
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
