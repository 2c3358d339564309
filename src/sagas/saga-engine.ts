// The saga engine: runs saga definitions step by step, persisting every step, so that a crash
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
import {
  SagaStepFailure,
  compensationOrder,
  type SagaContext,
  type SagaDefinition,
  type SagaMemo,
  type SagaType,
  type StepInput,
} from './saga.js';
import {
  claimExpiredWaits,
  claimWaitingByKey,
  claimWaitingSaga,
  completedStepIndexes,
  findSaga,
  findUnfinishedSagas,
  finishStep,
  insertSagaStatement,
  updateSaga,
  updateSagaStatement,
  completeStepAndAdvance,
  type SagaRow,
} from './saga-sql.js';
import { createStepProgress } from './step-progress.js';

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
  ): Promise<'started' | 'exists'>;
  /** Runs the saga from where it is, if it is IN_PROGRESS or COMPENSATING. */
  run(id: string, wake?: StepInput<SagaContext>['wake']): Promise<void>;
  /** Wakes sagas waiting on `key` (only the oldest when `one`); returns how many woke. */
  wake(key: string, one: boolean): Promise<number>;
  /** Wakes sagas whose deadline passed and resumes stale ones. */
  sweep(): Promise<void>;
  /** Resumes every IN_PROGRESS and COMPENSATING saga (at start-up). */
  resumeAll(): Promise<number>;
  startLoops(): void;
  stop(): Promise<void>;
}

export function createSagaEngine(options: SagaEngineOptions): SagaEngine {
  const { db, outbox, logger, clock, metrics } = options;
  const definitions = new Map(options.definitions.map((d) => [d.type, d as SagaDefinition]));
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

  async function finishSaga(
    saga: SagaRow,
    from: 'IN_PROGRESS' | 'COMPENSATING',
    state: 'COMPLETED' | 'COMPENSATED' | 'FAILED',
    context: SagaContext,
    currentStep: number,
    error = '',
  ): Promise<void> {
    const ref = { sagaId: saga.id, sagaType: saga.saga_type };
    const done =
      state === 'COMPLETED'
        ? event('SagaCompleted', saga.id, saga.correlation_id, ref)
        : state === 'COMPENSATED'
          ? event('SagaCompensated', saga.id, saga.correlation_id, { ...ref, error })
          : event('SagaFailed', saga.id, saga.correlation_id, { ...ref, error });
    // One statement: the saga's final state and its event, or nothing if it had moved on.
    const [changed] = await outbox.changeWithEvents(
      db,
      updateSagaStatement({ id: saga.id, from, state, currentStep, context, error }),
      [done],
    );
    if (changed) metrics?.sagas.inc({ type: saga.saga_type, outcome: state.toLowerCase() });
  }

  async function compensate(
    saga: SagaRow,
    failedIndex: number,
    context: SagaContext,
    error: string,
  ): Promise<void> {
    const def = definition(saga.saga_type);
    const log = logger.child({ sagaId: saga.id, correlationId: saga.correlation_id });
    const completed = await completedStepIndexes(db, saga.id);
    for (const index of compensationOrder(def.steps, failedIndex, completed)) {
      const step = def.steps[index];
      if (!step?.compensate) continue;
      try {
        await step.compensate({
          sagaId: saga.id,
          correlationId: saga.correlation_id,
          context,
          memo: {},
        });
        await finishStep(db, {
          sagaId: saga.id,
          index,
          name: step.name,
          correlationId: saga.correlation_id,
          state: 'COMPENSATED',
        });
      } catch (caught) {
        const message = `compensation of ${step.name} failed: ${errorMessage(caught)}`;
        log.error({ step: step.name, error: errorMessage(caught) }, 'saga compensation failed');
        await finishSaga(saga, 'COMPENSATING', 'FAILED', context, failedIndex, message);
        return;
      }
    }
    log.info({ sagaType: saga.saga_type, error }, 'saga compensated');
    await finishSaga(saga, 'COMPENSATING', 'COMPENSATED', context, failedIndex, error);
  }

  async function advance(saga: SagaRow, firstWake: StepInput<SagaContext>['wake']): Promise<void> {
    const def = definition(saga.saga_type);
    const log = logger.child({
      sagaId: saga.id,
      sagaType: saga.saga_type,
      correlationId: saga.correlation_id,
    });
    let context = saga.context;
    let index = saga.current_step;
    let wake = firstWake;
    let recheckedAt = -1;
    let memo: SagaMemo = {};
    const progress = createStepProgress();
    while (index < def.steps.length) {
      // A background record found the saga moved on (or failed): stop here.
      if (progress.halted) {
        await progress.settled();
        return;
      }
      const step = def.steps[index];
      if (!step) break;
      const stepRef = {
        sagaId: saga.id,
        index,
        name: step.name,
        correlationId: saga.correlation_id,
      };
      let outcome;
      try {
        outcome = await step.execute({
          sagaId: saga.id,
          correlationId: saga.correlation_id,
          context,
          wake,
          memo,
        });
      } catch (caught) {
        if (!(caught instanceof SagaStepFailure)) {
          await progress.settled().catch(() => false);
          throw caught;
        }
        if (!(await progress.settled())) return;
        log.warn({ step: step.name, error: caught.message }, 'saga step failed; compensating');
        await finishStep(db, { ...stepRef, state: 'FAILED', error: caught.message });
        await updateSaga(db, {
          id: saga.id,
          from: 'IN_PROGRESS',
          state: 'COMPENSATING',
          currentStep: index,
          context,
          error: caught.message,
        });
        await compensate(saga, index, context, caught.message);
        return;
      }
      wake = undefined;
      context = { ...context, ...outcome.context };
      if (outcome.kind === 'wait') {
        if (!(await progress.settled())) return;
        await updateSaga(db, {
          id: saga.id,
          from: 'IN_PROGRESS',
          state: 'WAITING',
          currentStep: index,
          context,
          waitKey: outcome.key,
          waitDeadline: new Date(clock.now() + outcome.deadlineMs),
        });
        // The awaited event may have come between the step's check and the WAITING row: look
        // once more now that any later wake-up would find the row.
        if (recheckedAt !== index && (await claimWaitingSaga(db, saga.id))) {
          recheckedAt = index;
          wake = 'recheck';
          memo = {};
          continue;
        }
        return;
      }
      if (outcome.kind === 'finish' || index === def.steps.length - 1) {
        if (!(await progress.settled())) return;
        await finishStep(db, { ...stepRef, state: 'COMPLETED', output: outcome.output });
        await finishSaga(saga, 'IN_PROGRESS', 'COMPLETED', context, index + 1);
        return;
      }
      const record = { ...stepRef, output: outcome.output, context };
      progress.record(() => completeStepAndAdvance(db, record));
      index += 1;
    }
    await progress.settled();
  }

  async function runOnce(
    id: string,
    wake: StepInput<SagaContext>['wake'],
    loaded: SagaRow | undefined,
  ): Promise<void> {
    const saga = loaded ?? (await findSaga(db, id));
    if (!saga) return;
    if (saga.state === 'IN_PROGRESS') await advance(saga, wake);
    else if (saga.state === 'COMPENSATING')
      await compensate(saga, saga.current_step, saga.context, saga.error);
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
        await runOnce(id, next, row);
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
    for (const id of await claimExpiredWaits(db, 100))
      background(() => run(id, 'deadline'), 'saga deadline');
    for (const id of await findUnfinishedSagas(db, options.staleAfterMs ?? 5000)) {
      if (!active.has(id)) background(() => run(id), 'saga resume');
    }
  }

  return {
    async start(type, id, correlationId, context) {
      definition(type);
      // One statement: the saga and its SagaStarted event, or nothing when it exists already.
      const [inserted] = await outbox.changeWithEvents(
        db,
        insertSagaStatement({ id, type, correlationId, context }),
        [event('SagaStarted', id, correlationId, { sagaId: id, sagaType: type })],
      );
      if (inserted) metrics?.sagas.inc({ type, outcome: 'started' });
      if (inserted || !active.has(id)) await run(id, undefined, inserted);
      return inserted ? 'started' : 'exists';
    },
    run: (id, wake) => run(id, wake),
    async wake(key, one) {
      const ids = await claimWaitingByKey(db, key, one);
      await Promise.all(ids.map((id) => run(id, 'event')));
      return ids.length;
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
