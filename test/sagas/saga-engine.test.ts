// The saga engine on a real PostgreSQL database: step order, reverse compensation, waiting,
// deadlines, duplicate starts and resumption after a crash.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DB_KINDS, createAnyTestDatabase, type AnyTestDatabase } from '../helpers/databases.js';
import { createSagaEngine, type SagaEngine } from '../../src/sagas/saga-engine.js';
import { SagaStepFailure, type SagaDefinition, type SagaStep } from '../../src/sagas/saga.js';
import { createOutboxWriter } from '../../src/outbox/outbox-writer.js';
import { silentLogger } from '../../src/shared/logger.js';
import { systemClock } from '../../src/shared/clock.js';
import { newId } from '../../src/shared/ids.js';
import type { Db } from '../../src/db/db.js';
import { waitFor } from '../helpers/procs.js';

type Ctx = { trail?: string[] } & Record<string, unknown>;

function recorder() {
  const calls: string[] = [];
  const step = (name: string, behaviour: 'ok' | 'fail' | 'wait' = 'ok'): SagaStep<Ctx> => ({
    name,
    async execute({ wake }) {
      calls.push(`do:${name}${wake ? `(${wake})` : ''}`);
      if (behaviour === 'fail') throw new SagaStepFailure(name, 'boom');
      if (behaviour === 'wait' && wake !== 'event')
        return { kind: 'wait', key: `key-${name}`, deadlineMs: 60_000 };
      return { kind: 'next', output: { name } };
    },
    async compensate() {
      calls.push(`undo:${name}`);
    },
  });
  return { calls, step };
}

function engine(db: Db, definition: SagaDefinition<Ctx>): SagaEngine {
  return createSagaEngine({
    db,
    outbox: createOutboxWriter({ subjectPrefix: 'test.events' }),
    logger: silentLogger(),
    clock: systemClock,
    definitions: [definition],
  });
}

async function sagaState(id: string) {
  const r = await t.db.query<{ state: string; current_step: number }>(
    'SELECT state, current_step FROM saga_instances WHERE id = $1',
    [id],
  );
  return r.rows[0];
}

// One database per adapter, in turn (the helpers above read the current one).
let t: AnyTestDatabase;

for (const kind of DB_KINDS) {
  describe.sequential(kind, () => {
    beforeAll(async () => {
      t = await createAnyTestDatabase(kind);
    });
    afterAll(async () => {
      await t.drop();
    });

    describe(`${kind}: saga engine`, () => {
      it('runs steps in order and completes', async () => {
        const { calls, step } = recorder();
        const e = engine(t.db, { type: 'execution', steps: [step('a'), step('b'), step('c')] });
        const id = newId();
        expect(await e.start('execution', id, 'corr-1', {})).toBe('started');
        expect(calls).toEqual(['do:a', 'do:b', 'do:c']);
        expect(await sagaState(id)).toEqual({ state: 'COMPLETED', current_step: 3 });
        const steps = await t.db.query<{ name: string; state: string; correlation_id: string }>(
          'SELECT name, state, correlation_id FROM saga_steps WHERE saga_id = $1 ORDER BY step_index',
          [id],
        );
        expect(steps.rows).toEqual([
          { name: 'a', state: 'COMPLETED', correlation_id: 'corr-1' },
          { name: 'b', state: 'COMPLETED', correlation_id: 'corr-1' },
          { name: 'c', state: 'COMPLETED', correlation_id: 'corr-1' },
        ]);
        const events = await t.db.query<{ event_type: string; correlation_id: string }>(
          'SELECT event_type, correlation_id FROM outbox_events WHERE aggregate_id = $1 ORDER BY seq',
          [id],
        );
        expect(events.rows.map((r) => r.event_type)).toEqual(['SagaStarted', 'SagaCompleted']);
        expect(events.rows.every((r) => r.correlation_id === 'corr-1')).toBe(true);
      });

      it('compensates completed steps in reverse order when a step fails', async () => {
        const { calls, step } = recorder();
        const e = engine(t.db, {
          type: 'execution',
          steps: [step('a'), step('b'), step('c', 'fail'), step('d')],
        });
        const id = newId();
        await e.start('execution', id, 'corr-2', {});
        expect(calls).toEqual(['do:a', 'do:b', 'do:c', 'undo:b', 'undo:a']);
        expect((await sagaState(id))?.state).toBe('COMPENSATED');
      });

      it('a second start with the same id runs nothing (redelivered event)', async () => {
        const { calls, step } = recorder();
        const e = engine(t.db, { type: 'execution', steps: [step('a')] });
        const id = newId();
        const results = await Promise.all(
          [1, 2, 3, 4, 5].map(() => e.start('execution', id, 'c', {})),
        );
        expect(results.filter((r) => r === 'started')).toHaveLength(1);
        expect(calls).toEqual(['do:a']);
        const count = await t.db.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM saga_instances WHERE id = $1',
          [id],
        );
        expect(count.rows[0]?.n).toBe(1);
      });

      it('sagas started together are inserted in one statement, each run once', async () => {
        const { calls, step } = recorder();
        const e = engine(t.db, { type: 'execution', steps: [step('a')] });
        const ids = Array.from({ length: 20 }, () => newId());
        const results = await Promise.all(ids.map((id) => e.start('execution', id, 'c', {})));
        expect(results.every((r) => r === 'started')).toBe(true);
        expect(calls).toHaveLength(20);
        // Their SagaStarted events were written by one statement (no relay runs here).
        const started = await t.db.query<{ n: number; statements: number }>(
          `SELECT count(*)::int AS n, count(DISTINCT xmin::text)::int AS statements
           FROM outbox_events WHERE event_type = 'SagaStarted' AND aggregate_id = ANY($1)`,
          [ids],
        );
        expect(started.rows[0]).toEqual({ n: 20, statements: 1 });
      });

      it('waits for an event and resumes the same step when woken', async () => {
        const { calls, step } = recorder();
        const e = engine(t.db, {
          type: 'execution',
          steps: [step('a'), step('b', 'wait'), step('c')],
        });
        const id = newId();
        await e.start('execution', id, 'c', {});
        expect(await sagaState(id)).toEqual({ state: 'WAITING', current_step: 1 });
        expect(await e.wake('key-b', false)).toBe(1);
        expect(calls).toEqual(['do:a', 'do:b', 'do:b(recheck)', 'do:b(event)', 'do:c']);
        expect((await sagaState(id))?.state).toBe('COMPLETED');
      });

      it('a wait with its own recheck runs the step again only when the recheck says so', async () => {
        const seen: string[] = [];
        let happened = false;
        const seenKey = newId();
        const e = engine(t.db, {
          type: 'execution',
          steps: [
            {
              name: 'w',
              async execute({ wake }) {
                seen.push(wake ?? 'first');
                if (wake === 'event') return { kind: 'next' };
                return {
                  kind: 'wait',
                  key: `probe-${seenKey}`,
                  deadlineMs: 60_000,
                  // Looked at once the WAITING row is written; counts the looks.
                  recheck: async () => {
                    seen.push(`recheck-asked:${happened}`);
                    return happened;
                  },
                };
              },
            },
          ],
        });
        // Nothing happened meanwhile: one cheap look, the step does not run again.
        const quiet = newId();
        await e.start('execution', quiet, 'c', {});
        expect(seen).toEqual(['first', 'recheck-asked:false']);
        expect((await sagaState(quiet))?.state).toBe('WAITING');
        // It had happened: the step runs again (once: its second wait is not rechecked).
        seen.length = 0;
        happened = true;
        const raced = newId();
        await e.start('execution', raced, 'c', {});
        expect(seen).toEqual(['first', 'recheck-asked:true', 'recheck']);
        expect((await sagaState(raced))?.state).toBe('WAITING');
        // Both still wake on the event.
        seen.length = 0;
        expect(await e.wake(`probe-${seenKey}`, false)).toBe(2);
        expect(seen).toEqual(['event', 'event']);
        expect((await sagaState(quiet))?.state).toBe('COMPLETED');
        expect((await sagaState(raced))?.state).toBe('COMPLETED');
      });

      it('a saga started with parkBehind while others wait on its key is created WAITING, runs nothing, and runs when woken; a re-check that finds what they wait for wakes the oldest', async () => {
        const key = `line-${newId()}`;
        const seen: string[] = [];
        let freeNow = false;
        const steps: SagaStep<Ctx>[] = [
          {
            name: 'take',
            async execute({ wake, sagaId }) {
              seen.push(`${sagaId.slice(0, 4)}:${wake ?? 'first'}`);
              if (wake === 'event' || wake === 'recheck') return { kind: 'next' };
              return { kind: 'wait', key, deadlineMs: 60_000, recheck: async () => false };
            },
          },
        ];
        const e = engine(t.db, {
          type: 'execution',
          steps,
          parkBehind: { key, deadlineMs: 40_000, recheck: async () => freeNow },
        });
        // Nobody waits yet: the first saga runs its step and parks.
        const first = newId();
        await e.start('execution', first, 'c', {}, { parkBehind: true });
        expect(seen).toEqual([`${first.slice(0, 4)}:first`]);
        // Now one waits: the second is created WAITING at step 0, its step not run.
        const second = newId();
        await e.start('execution', second, 'c', {}, { parkBehind: true });
        expect(seen).toHaveLength(1);
        const row = await t.db.query<{ state: string; current_step: number; wait_key: string }>(
          'SELECT state, current_step, wait_key FROM saga_instances WHERE id = $1',
          [second],
        );
        expect(row.rows[0]).toEqual({ state: 'WAITING', current_step: 0, wait_key: key });
        // What they wait for is there when the third is created: the oldest waiter is woken,
        // as a WorkerReady would wake it; the third waits its turn.
        freeNow = true;
        const third = newId();
        await e.start('execution', third, 'c', {}, { parkBehind: true });
        await waitFor('the oldest waiter to run', async () =>
          (await sagaState(first))?.state === 'COMPLETED' ? true : undefined,
        );
        expect(seen.at(-1)).toBe(`${first.slice(0, 4)}:event`);
        expect((await sagaState(third))?.state).toBe('WAITING');
        // Woken one at a time, oldest first.
        expect(await e.wake(key, true)).toBe(1);
        expect(await e.wake(key, true)).toBe(1);
        expect(seen.slice(-2)).toEqual([
          `${second.slice(0, 4)}:event`,
          `${third.slice(0, 4)}:event`,
        ]);
        expect((await sagaState(third))?.state).toBe('COMPLETED');
      });

      it('waking one of several waiting sagas takes the highest priority first, then the oldest', async () => {
        const e = engine(t.db, {
          type: 'execution',
          steps: [
            {
              name: 'w',
              async execute({ wake }) {
                if (wake === 'event') return { kind: 'next' };
                return { kind: 'wait', key: 'one-worker', deadlineMs: 60_000 };
              },
            },
          ],
        });
        const [older, newer, requeued] = [newId(), newId(), newId()];
        await e.start('execution', older, 'c', {});
        await e.start('execution', newer, 'c', {});
        await e.start('execution', requeued, 'c', {}, { priority: 1 });
        const order: string[] = [];
        for (let i = 0; i < 3; i += 1) {
          await e.wake('one-worker', true);
          for (const id of [older, newer, requeued]) {
            if ((await sagaState(id))?.state === 'COMPLETED' && !order.includes(id)) order.push(id);
          }
        }
        expect(order).toEqual([requeued, older, newer]);
      });

      it('a step memo reaches later steps of the same run and is empty after a wait', async () => {
        const seen: string[] = [];
        const e = engine(t.db, {
          type: 'execution',
          steps: [
            {
              name: 'write',
              async execute({ memo }) {
                memo.row = 'from-write';
                return { kind: 'next' };
              },
            },
            {
              name: 'wait',
              async execute({ memo, wake }) {
                seen.push(
                  `wait:${wake ?? 'first'}:${typeof memo.row === 'string' ? memo.row : 'empty'}`,
                );
                if (wake !== 'event')
                  return { kind: 'wait', key: `memo-${id}`, deadlineMs: 60_000 };
                return { kind: 'next' };
              },
            },
          ],
        });
        const id = newId();
        await e.start('execution', id, 'c', {});
        expect(await e.wake(`memo-${id}`, false)).toBe(1);
        expect(seen).toEqual(['wait:first:from-write', 'wait:recheck:empty', 'wait:event:empty']);
        expect((await sagaState(id))?.state).toBe('COMPLETED');
      });

      it('wakes a waiting saga with its deadline when the deadline passes', async () => {
        const seen: string[] = [];
        const e = engine(t.db, {
          type: 'execution',
          steps: [
            {
              name: 'w',
              async execute({ wake }) {
                seen.push(wake ?? 'first');
                if (wake === 'deadline') throw new SagaStepFailure('w', 'deadline passed');
                return { kind: 'wait', key: `never-${newId()}`, deadlineMs: 50 };
              },
            },
          ],
        });
        const id = newId();
        await e.start('execution', id, 'c', {});
        await new Promise((r) => setTimeout(r, 120));
        await e.sweep();
        await e.stop();
        expect(seen).toEqual(['first', 'recheck', 'deadline']);
        expect((await sagaState(id))?.state).toBe('COMPENSATED');
      });

      it('passed deadlines of an idle wait wake only as many as could be of use (decision 0023)', async () => {
        // How many could be of use: the number in this table (none at first).
        await t.db.query('CREATE TABLE IF NOT EXISTS idle_use (n int NOT NULL)');
        await t.db.query('INSERT INTO idle_use VALUES (0)');
        const idleKey = `idle-${newId()}`;
        const seen: string[] = [];
        const definition: SagaDefinition<{ name?: string; idle?: boolean }> = {
          type: 'execution',
          idleDeadline: { key: idleKey, useful: '(SELECT n FROM idle_use)' },
          steps: [
            {
              name: 'w',
              async execute({ wake, context }) {
                if (wake === 'deadline') {
                  seen.push(context.name ?? '?');
                  return { kind: 'next' };
                }
                const key = context.idle ? idleKey : `other-${newId()}`;
                return { kind: 'wait', key, deadlineMs: 50, recheck: async () => false };
              },
            },
          ],
        };
        const e = createSagaEngine({
          db: t.db,
          outbox: createOutboxWriter({ subjectPrefix: 'test.events' }),
          logger: silentLogger(),
          clock: systemClock,
          definitions: [definition],
        });
        const idle = [newId(), newId(), newId()];
        for (const [i, id] of idle.entries())
          await e.start('execution', id, 'c', { name: `idle${i}`, idle: true });
        await e.start('execution', newId(), 'c', { name: 'other', idle: false });
        await new Promise((r) => setTimeout(r, 120));
        const states = async () =>
          Promise.all(idle.map(async (id) => (await sagaState(id))?.state));
        // Every deadline has passed: none of the idle waits is of use, the other one wakes.
        await e.sweep();
        await waitFor('the other wait woken', () => (seen.includes('other') ? true : undefined));
        expect(seen).toEqual(['other']);
        expect(await states()).toEqual(['WAITING', 'WAITING', 'WAITING']);
        // One could be of use now: the oldest wakes, the others stay parked.
        await t.db.query('UPDATE idle_use SET n = 1');
        await e.sweep();
        await waitFor('one idle wait woken', () => (seen.length === 2 ? true : undefined));
        expect(seen).toEqual(['other', 'idle0']);
        // Then all of them.
        await t.db.query('UPDATE idle_use SET n = 5');
        await e.sweep();
        await waitFor('the idle waits woken', () => (seen.length === 4 ? true : undefined));
        await e.stop();
        expect(seen.slice(2).sort()).toEqual(['idle1', 'idle2']);
        expect(await states()).toEqual(['COMPLETED', 'COMPLETED', 'COMPLETED']);
        await t.db.query('DROP TABLE idle_use');
      });

      it('resumes a saga interrupted between steps after a restart', async () => {
        const id = newId();
        // First "process": step b dies with an infrastructure error (not a step failure), as if the
        // server crashed there; the saga stays IN_PROGRESS at step 1.
        const first = recorder();
        const crashing: SagaStep<Ctx> = {
          name: 'b',
          async execute() {
            first.calls.push('do:b');
            throw new Error('connection terminated');
          },
        };
        const e1 = engine(t.db, {
          type: 'execution',
          steps: [first.step('a'), crashing, first.step('c')],
        });
        await expect(e1.start('execution', id, 'c', {})).rejects.toThrow('connection terminated');
        expect(await sagaState(id)).toEqual({ state: 'IN_PROGRESS', current_step: 1 });

        // Second "process" with a fresh pool: resumeAll picks it up from step b, not from a.
        const db2 = t.open();
        const second = recorder();
        const e2 = engine(db2, {
          type: 'execution',
          steps: [second.step('a'), second.step('b'), second.step('c')],
        });
        expect(await e2.resumeAll()).toBeGreaterThanOrEqual(1);
        await e2.stop();
        expect(second.calls).toEqual(['do:b', 'do:c']);
        expect((await sagaState(id))?.state).toBe('COMPLETED');
      });
    });
  });
}
