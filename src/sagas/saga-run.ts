// How one saga runs, from where it stands: its steps in order, WAITs with a deadline (and one
// re-check once the WAITING row is written), reverse compensation after a step failure, and its
// ending with the matching event. The engine (saga-engine.ts) decides when a saga runs and makes
// sure only one run of it is in flight in this process.
import type { Db } from '../db/db.js';
import type { OutboxWriter } from '../outbox/outbox-writer.js';
import { event } from '../events/catalog.js';
import type { Logger } from '../shared/logger.js';
import type { Clock } from '../shared/clock.js';
import { errorMessage } from '../shared/errors.js';
import { inSpan } from '../telemetry/tracing.js';
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
  claimWaitingSaga,
  completedStepIndexes,
  completeStepAndAdvance,
  findSaga,
  finishStep,
  updateSaga,
  updateSagaStatement,
  updateSagaWithStepsStatement,
  parkRecheckingStatement,
  type CompletedStep,
  type SagaRow,
} from './saga-sql.js';
import { createStepProgress } from './step-progress.js';
import { runStatement } from '../db/statement.js';

export interface SagaRunnerOptions {
  db: Db;
  outbox: OutboxWriter;
  logger: Logger;
  clock: Clock;
  metrics?: Metrics;
  definition: (type: SagaType) => SagaDefinition;
}

export interface SagaRunner {
  /** Runs the saga once from where it is (IN_PROGRESS: its steps; COMPENSATING: compensation).
   * `loaded` is its row when the caller has just read or written it (one read less). */
  runOnce(
    id: string,
    wake: StepInput<SagaContext>['wake'],
    loaded: SagaRow | undefined,
    /** What a hand-off gave it and the rows that statement read (the first step's memo). */
    handed?: { given?: string; memo?: SagaMemo },
  ): Promise<void>;
}

/** What a saga step's span says about it. */
function stepAttributes(saga: SagaRow, step: string, index: number) {
  return {
    'hodei.saga_id': saga.id,
    'hodei.saga_type': saga.saga_type,
    'hodei.saga_step': step,
    'hodei.saga_step_index': index,
    'hodei.correlation_id': saga.correlation_id,
  };
}

export function createSagaRunner(options: SagaRunnerOptions): SagaRunner {
  const { db, outbox, logger, clock, metrics, definition } = options;

  async function finishSaga(
    saga: SagaRow,
    from: 'IN_PROGRESS' | 'COMPENSATING',
    state: 'COMPLETED' | 'COMPENSATED' | 'FAILED',
    context: SagaContext,
    currentStep: number,
    error = '',
    /** Step records written in the same statement (the last step's, and those held). */
    steps: readonly CompletedStep[] = [],
  ): Promise<void> {
    const ref = { sagaId: saga.id, sagaType: saga.saga_type };
    const done =
      state === 'COMPLETED'
        ? event('SagaCompleted', saga.id, saga.correlation_id, ref)
        : state === 'COMPENSATED'
          ? event('SagaCompensated', saga.id, saga.correlation_id, { ...ref, error })
          : event('SagaFailed', saga.id, saga.correlation_id, { ...ref, error });
    // One statement: the saga's final state and its event, or nothing if it had moved on (and
    // the steps' records, which are written either way).
    const update = { id: saga.id, from, state, currentStep, context, error };
    const statement =
      steps.length > 0
        ? updateSagaWithStepsStatement(update, saga.correlation_id, steps)
        : updateSagaStatement(update);
    const [changed] = await outbox.changeWithEvents(db, statement, [done]);
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
        const input = { sagaId: saga.id, correlationId: saga.correlation_id, context, memo: {} };
        const compensateStep = step.compensate.bind(step);
        await inSpan(
          `${saga.saga_type} compensate ${step.name}`,
          {
            correlationId: saga.correlation_id,
            ownTrace: true,
            attributes: { ...stepAttributes(saga, step.name, index), 'hodei.compensation': true },
          },
          () => compensateStep(input),
        );
        await finishStep(db, {
          sagaId: saga.id,
          index,
          name: step.name,
          correlationId: saga.correlation_id,
          state: 'COMPENSATED',
        });
        metrics?.compensations.inc({ type: saga.saga_type, step: step.name });
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

  async function advance(
    saga: SagaRow,
    firstWake: StepInput<SagaContext>['wake'],
    handed: { given?: string; memo?: SagaMemo } | undefined,
  ): Promise<void> {
    const def = definition(saga.saga_type);
    const log = logger.child({
      sagaId: saga.id,
      sagaType: saga.saga_type,
      correlationId: saga.correlation_id,
    });
    let context = saga.context;
    let index = saga.current_step;
    let wake = firstWake;
    let given = handed?.given;
    let recheckedAt = -1;
    let memo: SagaMemo = { ...handed?.memo };
    const progress = createStepProgress();
    // Records held until the saga comes to rest (def.recordStepsAtRest), then written with it.
    let held: CompletedStep[] = [];
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
      const stepStarted = clock.now();
      try {
        const input = {
          sagaId: saga.id,
          correlationId: saga.correlation_id,
          context,
          wake,
          memo,
          ...(given !== undefined ? { given } : {}),
        };
        outcome = await inSpan(
          `${saga.saga_type} ${step.name}`,
          {
            correlationId: saga.correlation_id,
            ownTrace: true,
            attributes: stepAttributes(saga, step.name, index),
          },
          () => step.execute(input),
        );
      } catch (caught) {
        if (!(caught instanceof SagaStepFailure)) {
          await progress.settled().catch(() => false);
          throw caught;
        }
        if (!(await progress.settled())) return;
        log.warn({ step: step.name, error: caught.message }, 'saga step failed; compensating');
        await finishStep(db, { ...stepRef, state: 'FAILED', error: caught.message });
        // With the records held so far: compensation reads which steps completed.
        await runStatement(
          db,
          updateSagaWithStepsStatement(
            {
              id: saga.id,
              from: 'IN_PROGRESS',
              state: 'COMPENSATING',
              currentStep: index,
              context,
              error: caught.message,
            },
            saga.correlation_id,
            held,
          ),
        );
        await compensate(saga, index, context, caught.message);
        return;
      }
      metrics?.sagaStep.observe(
        { type: saga.saga_type, step: step.name },
        (clock.now() - stepStarted) / 1000,
      );
      wake = undefined;
      context = { ...context, ...outcome.context };
      if (outcome.kind === 'wait') {
        // What a hand-off gave is for this run's steps up to a wait, not after it.
        given = undefined;
        if (!(await progress.settled())) return;
        const waiting = {
          id: saga.id,
          from: 'IN_PROGRESS' as const,
          state: 'WAITING' as const,
          currentStep: index,
          context,
          waitKey: outcome.key,
          waitDeadline: new Date(clock.now() + outcome.deadlineMs),
        };
        const inPark = recheckedAt !== index ? outcome.recheckInPark : undefined;
        if (inPark) {
          // The look is made by the statement that parks it: found, the saga was not parked.
          const [stayed] = await runStatement(
            db,
            parkRecheckingStatement(waiting, saga.correlation_id, held, inPark),
          );
          held = [];
          if (stayed !== true) return;
          recheckedAt = index;
          wake = 'recheck';
          memo = {};
          continue;
        }
        if (held.length > 0) {
          await runStatement(db, updateSagaWithStepsStatement(waiting, saga.correlation_id, held));
          held = [];
        } else await updateSaga(db, waiting);
        // The awaited event may have come between the step's check and the WAITING row: look
        // once more now that any later wake-up would find the row (with the step's own cheap
        // read when it has one; a wake-up meanwhile has claimed the saga, and then this claim
        // fails and the wake-up runs it).
        if (
          recheckedAt !== index &&
          (!outcome.recheck || (await outcome.recheck())) &&
          (await claimWaitingSaga(db, saga.id))
        ) {
          recheckedAt = index;
          wake = 'recheck';
          memo = {};
          continue;
        }
        return;
      }
      if (outcome.kind === 'finish' || index === def.steps.length - 1) {
        if (!(await progress.settled())) return;
        await finishSaga(saga, 'IN_PROGRESS', 'COMPLETED', context, index + 1, '', [
          ...held,
          { index, name: step.name, output: outcome.output },
        ]);
        return;
      }
      if (def.recordStepsAtRest) held.push({ index, name: step.name, output: outcome.output });
      else {
        const record = { ...stepRef, output: outcome.output, context };
        progress.record(() => completeStepAndAdvance(db, record));
      }
      index += 1;
    }
    await progress.settled();
  }

  async function runOnce(
    id: string,
    wake: StepInput<SagaContext>['wake'],
    loaded: SagaRow | undefined,
    handed?: { given?: string; memo?: SagaMemo },
  ): Promise<void> {
    const saga = loaded ?? (await findSaga(db, id));
    if (!saga) return;
    if (saga.state === 'IN_PROGRESS') await advance(saga, wake, handed);
    else if (saga.state === 'COMPENSATING')
      await compensate(saga, saga.current_step, saga.context, saga.error);
  }

  return { runOnce };
}
