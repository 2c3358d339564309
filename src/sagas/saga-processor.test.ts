// The saga processor's routing of a run's events to the saga waiting for its start (the end of a
// run wakes the saga only when its JobStarted did not: decision 0023, waiting for a start's wake
// still under way: decision 0026), and the events of record only, which it does nothing with (the
// table bus leaves them out: decision 0025).
import { describe, expect, it } from 'vitest';
import { RECORD_ONLY_EVENTS, createSagaProcessor } from './saga-processor.js';
import type { SagaEngine } from './saga-engine.js';
import type { DeliveredEvent, EventType } from '../events/catalog.js';
import type { WorkerSessions } from '../workers/worker-sessions.js';
import { createJobWatch, type JobWatch } from '../jobs/job-watch.js';
import { jobStartedKey } from './saga-deps.js';

function harness(woken: (key: string) => number | Promise<number>) {
  const wakes: string[] = [];
  // What ends the saga waiting for a start: finishWaiting (decision 0026); `woken` says whether
  // it found the saga waiting (1) or not (0).
  const engine = {
    finishWaiting: async (_type: string, _id: string, key: string) => {
      wakes.push(key);
      return (await woken(key)) > 0;
    },
  } as unknown as SagaEngine;
  const processor = createSagaProcessor({
    engine,
    sessions: {} as WorkerSessions,
    jobWatch: createJobWatch(),
  });
  let n = 0;
  const send = (type: EventType, jobId: string, attempt = 1) => {
    n += 1;
    const event: DeliveredEvent = {
      eventId: `e${n}`,
      type,
      correlationId: 'c',
      payload: { jobId, attempt, ...(type === 'JobSucceeded' ? { exitCode: 0 } : {}) },
    };
    return processor(event);
  };
  return { wakes, send };
}

describe('saga processor: the end of a run', () => {
  it('skips the wake when the JobStarted woke the saga here', async () => {
    const { wakes, send } = harness(() => 1);
    await send('JobStarted', 'j1');
    await send('JobSucceeded', 'j1');
    expect(wakes).toEqual([jobStartedKey('j1', 1)]);
    // Once: a second end of the same run (a redelivery) wakes as before.
    await send('JobSucceeded', 'j1');
    expect(wakes).toEqual([jobStartedKey('j1', 1), jobStartedKey('j1', 1)]);
  });

  it('wakes when the JobStarted found no saga, or never came here', async () => {
    const { wakes, send } = harness(() => 0);
    await send('JobStarted', 'j2');
    await send('JobFailed', 'j2');
    await send('JobTimedOut', 'j3', 2);
    expect(wakes).toEqual([jobStartedKey('j2', 1), jobStartedKey('j2', 1), jobStartedKey('j3', 2)]);
  });

  it("an end handled while its start's wake is under way waits for it, and skips its own when the start woke the saga", async () => {
    let finishStart: (woke: number) => void = () => undefined;
    const { wakes, send } = harness((key) =>
      key === jobStartedKey('j5', 1) && wakes.length === 1
        ? new Promise<number>((resolve) => (finishStart = resolve))
        : 0,
    );
    const started = send('JobStarted', 'j5');
    const ended = send('JobSucceeded', 'j5');
    await new Promise((resolve) => setImmediate(resolve));
    expect(wakes).toEqual([jobStartedKey('j5', 1)]);
    finishStart(1);
    await Promise.all([started, ended]);
    expect(wakes).toEqual([jobStartedKey('j5', 1)]);

    // The start's wake found no saga: the end wakes, once the start's wake is over.
    const again = harness(() =>
      again.wakes.length === 1 ? new Promise<number>((resolve) => (finishStart = resolve)) : 0,
    );
    const started2 = again.send('JobStarted', 'j6');
    const ended2 = again.send('JobFailed', 'j6');
    await new Promise((resolve) => setImmediate(resolve));
    expect(again.wakes).toEqual([jobStartedKey('j6', 1)]);
    finishStart(0);
    await Promise.all([started2, ended2]);
    expect(again.wakes).toEqual([jobStartedKey('j6', 1), jobStartedKey('j6', 1)]);
  });

  it('keys by attempt: the end of another attempt still wakes', async () => {
    const { wakes, send } = harness(() => 1);
    await send('JobStarted', 'j4', 1);
    await send('JobSucceeded', 'j4', 2);
    expect(wakes).toEqual([jobStartedKey('j4', 1), jobStartedKey('j4', 2)]);
  });
});

describe('saga processor: events of record only', () => {
  it('starts, wakes and tells nothing for each of RECORD_ONLY_EVENTS (the table bus leaves them out)', async () => {
    const touched: string[] = [];
    const spy = <T>(name: string) =>
      new Proxy(
        {},
        {
          get: (_, prop) => {
            touched.push(`${name}.${String(prop)}`);
            return () => Promise.resolve(0);
          },
        },
      ) as T;
    const processor = createSagaProcessor({
      engine: spy<SagaEngine>('engine'),
      sessions: spy<WorkerSessions>('sessions'),
      jobWatch: spy<JobWatch>('jobWatch'),
    });
    for (const type of RECORD_ONLY_EVENTS) {
      await processor({
        eventId: type,
        type,
        correlationId: 'c',
        payload: { jobId: 'j', attempt: 1, workerId: 'w', sagaId: 's' },
      });
    }
    expect(touched).toEqual([]);
    // And the rule has teeth: an event the processor acts on touches something.
    await processor({
      eventId: 'q',
      type: 'JobQueued',
      correlationId: 'c',
      payload: { jobId: 'j', attempt: 1 },
    });
    expect(touched.length).toBeGreaterThan(0);
  });
});
