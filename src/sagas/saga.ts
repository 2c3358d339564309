// Saga domain: definitions, step outcomes and the pure rules of ordering and compensation.
import { HodeiError } from '../shared/errors.js';
import type { SqlCondition, Statement } from '../db/statement.js';
import type { NewSaga, SagaParking, SagaRow } from './saga-sql.js';
import type { NewEvent } from '../events/catalog.js';
import type { BuiltEvent } from '../outbox/outbox-writer.js';

export const SAGA_TYPES = ['execution', 'provisioning', 'recovery'] as const;
export type SagaType = (typeof SAGA_TYPES)[number];

export const SAGA_STATES = [
  'PENDING',
  'IN_PROGRESS',
  'WAITING',
  'COMPENSATING',
  'COMPLETED',
  'COMPENSATED',
  'FAILED',
  'CANCELLED',
] as const;
export type SagaState = (typeof SAGA_STATES)[number];

export type SagaContext = Record<string, unknown>;

export type StepOutcome<C extends SagaContext> =
  /** The step is done; go on to the next one. */
  | { kind: 'next'; context?: Partial<C>; output?: unknown }
  /** Park the saga until an event with `key` wakes it, or until the deadline passes. */
  | {
      kind: 'wait';
      key: string;
      deadlineMs: number;
      context?: Partial<C>;
      /**
       * Asked once the WAITING row is written (so any later wake-up finds it): true when what
       * the saga waits for may have happened between the step's look and that row, and the step
       * must run again. One cheap read instead of running the step again every time; without
       * it the step always runs once more.
       */
      recheck?: () => Promise<boolean>;
      /**
       * The same look as `recheck`, as an SQL condition evaluated in the statement that writes
       * the WAITING row (one round trip less). Only for a change to rows the condition locks
       * `FOR SHARE`: a change committed after that statement's snapshot then waits for the
       * WAITING row to commit, so its wake-up finds it. Used in place of `recheck` when given.
       */
      recheckInPark?: SqlCondition;
    }
  /** Nothing left to do (e.g. the job moved on): complete the saga without the later steps. */
  | { kind: 'finish'; context?: Partial<C>; output?: unknown };

/** What earlier steps of a saga left in memory for later ones in the same run. */
export type SagaMemo = Record<string, unknown>;

export interface StepInput<C extends SagaContext, M extends SagaMemo = SagaMemo> {
  sagaId: string;
  correlationId: string;
  context: C;
  /** Why the step runs again after a wait; undefined on its first run. 'event': an event with
   * the key it waits on woke it; 'recheck': something may have changed, look again. */
  wake?: 'event' | 'deadline' | 'recheck';
  /** What a hand-off gave the saga in the statement that woke it (SagaDefinition.handOff): the
   * id of what it waited for, already its own. Every step of the run sees it until one waits;
   * a step that ends the saga before the one that takes it must give it back. */
  given?: string;
  /**
   * Rows the earlier steps of this run just read or wrote, so a later step need not read them
   * again (one round trip less each). Never persisted: empty when a run starts (after a restart,
   * a wake-up, a wait), so a step reads from the database whatever its memo lacks.
   */
  memo: Partial<M>;
}

export interface SagaStep<C extends SagaContext, M extends SagaMemo = SagaMemo> {
  readonly name: string;
  execute(input: StepInput<C, M>): Promise<StepOutcome<C>>;
  compensate?(input: StepInput<C, M>): Promise<void>;
  /**
   * For a last step whose wait ends the saga whenever an event with its key comes (its execute,
   * woken by the event, reads nothing and returns `next` with this output): the engine's
   * `finishWaiting` then completes the waiting saga in the statement that would have woken it
   * (decision 0026), one statement instead of two.
   */
  readonly finishOnEvent?: { readonly output: unknown };
}

export interface SagaDefinition<
  C extends SagaContext = SagaContext,
  M extends SagaMemo = SagaMemo,
> {
  readonly type: SagaType;
  readonly steps: readonly SagaStep<C, M>[];
  /**
   * Completed steps are recorded when the saga comes to rest — in the statement that parks it,
   * ends it or turns it to compensation — instead of one background statement per step. For
   * sagas whose steps between two rests take milliseconds: a crash in between runs them again
   * from the last rest, as a crash before a background record landed does (steps are
   * idempotent).
   */
  readonly recordStepsAtRest?: boolean;
  /**
   * A saga started with `parkBehind` is created already WAITING on `key`, at its first step,
   * when other sagas wait on that key: it would only find what they wait for taken and park
   * behind them. One statement instead of running its first steps to that end. `recheck` is
   * asked once it is parked, as for any wait.
   */
  readonly parkBehind?: {
    key: string;
    deadlineMs: number;
    recheck: () => Promise<boolean>;
    /** A further SQL condition (a constant boolean expression) for parking at birth. */
    onlyWhen?: string;
  };
  /**
   * Sagas of this type created IN_PROGRESS take their first look in the statement that creates
   * them (decision 0027): `statement` inserts the sagas as insertSagasStatement does (with the
   * same parking) and returns each inserted saga with what it read and did for its first steps
   * (its memo), its `id` and, in `emit`, the events that apply to it — `SagaStarted` always, and
   * those of `events(saga)` it made happen, their `fill` keys set from its row. One statement
   * where the insert and the first look were two, on the path from a job's queueing to its run.
   */
  readonly startLook?: {
    statement: (
      sagas: readonly NewSaga[],
      parking: SagaParking | undefined,
    ) => Statement<{ saga: SagaRow; memo?: Partial<M> }>;
    events: (saga: NewSaga) => Array<NewEvent & { fill?: Readonly<Record<string, string>> }>;
  };
  /**
   * Waking sagas that wait on `key` hands each what it waits for, in the statement that wakes
   * it: `claim(limit)` pairs the oldest waiters with what is free (at most `limit` pairs), takes
   * each thing for its saga and moves each saga WAITING → IN_PROGRESS, returning them with what
   * they were given. A saga is woken only when something is there for it, and its step gets
   * it as `given` (one statement where a wake-up, a read and a claim were three).
   */
  readonly handOff?: {
    key: string;
    /** Each saga with what it was given, and rows the statement read for its steps (memo). */
    claim: (limit: number) => Statement<{ saga: SagaRow; given: string; memo?: SagaMemo }>;
    /** An event the claim makes happen for some of the sagas it wakes (decision 0028): its rows
     * list it in their `emit` column, and it is built from their columns in the same statement
     * (OutboxWriter.changeWithBuiltEvents). */
    event?: BuiltEvent;
  };
  /**
   * Waits on `key` whose deadline has passed are woken only as many as `useful` (an SQL integer
   * expression, constant in the statement) says a wake could serve now, oldest first; the rest
   * stay parked until a later sweep finds use for them. For waits whose deadline is a safety net
   * behind events: a long backlog of them then costs nothing while it waits, instead of a wake-up,
   * a look and a park again for each (decision 0023). One definition per engine may have it.
   */
  readonly idleDeadline?: { key: string; useful: string };
}

/** A business failure of a step: the saga compensates. Any other error leaves the saga where it
 * is, to be resumed (a database or bus outage must not undo work). */
export class SagaStepFailure extends HodeiError {
  constructor(step: string, message: string, options?: { cause?: unknown }) {
    super('SAGA_STEP_FAILED', `${step}: ${message}`, { step }, options);
  }
}

/** Indexes of the steps to compensate, in order, when step `failedIndex` failed: every earlier
 * completed step that has a compensation, last one first. */
export function compensationOrder(
  steps: readonly { compensate?: unknown }[],
  failedIndex: number,
  completed: ReadonlySet<number>,
): number[] {
  const order: number[] = [];
  for (let i = Math.min(failedIndex, steps.length) - 1; i >= 0; i -= 1) {
    if (completed.has(i) && steps[i]?.compensate) order.push(i);
  }
  return order;
}
