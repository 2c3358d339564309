// WatchJob's story: every state once and in order, rebuilt from the job and its ended attempts
// when the watcher read the job seldom; an attempt's output after its RUNNING and before the state
// that ends it; attempts never interleaved; output newer than the job as read held back.
import { describe, expect, it } from 'vitest';
import type { JobRecord } from './job.js';
import type { JobAttemptRecord } from './job-attempt-sql.js';
import type { StoredChunk } from './job-output-sql.js';
import type { JobState } from './job-state.js';
import { jobRecord } from '../../test/helpers/job-spec.js';
import {
  jobSteps,
  planChunks,
  planSteps,
  shownOf,
  type Shown,
  type WatchItem,
} from './watch-plan.js';

const T = new Date(1000);

/** The job as read: `state` at `attempt`, with the times that state implies. */
function job(state: JobState, attempt = 1, started = true): JobRecord {
  const assigned = state !== 'PENDING' && (state !== 'CANCELLED' || started);
  return jobRecord({
    state,
    attempt,
    workerId: assigned ? `w${attempt}` : null,
    assignedAt: assigned ? T : null,
    startedAt: assigned && state !== 'ASSIGNED' && started ? T : null,
    exitCode: state === 'SUCCEEDED' ? 0 : null,
  });
}

/** An ended attempt: how far it got. */
function ended(attempt: number, reached: 'PENDING' | 'ASSIGNED' | 'RUNNING'): JobAttemptRecord {
  return {
    attempt,
    outcome: reached === 'RUNNING' ? 'WORKER_LOST' : 'DISPATCH_FAILED',
    exitCode: null,
    error: 'lost',
    workerId: reached === 'PENDING' ? null : `w${attempt}`,
    assignedAt: reached === 'PENDING' ? null : T,
    startedAt: reached === 'RUNNING' ? T : null,
    finishedAt: T,
    retryAt: null,
  };
}

let seq = 0;
function chunk(attempt: number): StoredChunk {
  seq += 1;
  return {
    seq,
    attempt,
    stream: 'stdout',
    data: Buffer.from(`a${attempt}`),
    at: T,
    workerId: `w${attempt}`,
  };
}

const describeItems = (items: WatchItem[]) =>
  items.map((i) =>
    i.kind === 'job'
      ? `${i.job.state}#${i.job.attempt}`
      : `out#${i.chunk.attempt}:${Buffer.from(i.chunk.data).toString()}`,
  );

/** One watcher round: the job read, its ended attempts, the chunks read after it. */
function round(
  read: JobRecord,
  chunks: StoredChunk[],
  shown: Shown,
  attempts: JobAttemptRecord[] = [],
) {
  const steps = jobSteps(read, attempts, shown.attempt);
  const { items, placed } = planChunks(steps, chunks, shown);
  return { items: describeItems([...items, ...planSteps(steps, shown)]), placed };
}

describe('watch plan', () => {
  it('sends every state of a burst the watcher never saw, in order', () => {
    const shown = shownOf(job('PENDING'));
    expect(round(job('SUCCEEDED'), [], shown).items).toEqual([
      'ASSIGNED#1',
      'RUNNING#1',
      'SUCCEEDED#1',
    ]);
  });

  it("places an attempt's output between its RUNNING and its end", () => {
    const shown = shownOf(job('PENDING'));
    const { items } = round(job('SUCCEEDED'), [chunk(1), chunk(1)], shown);
    expect(items).toEqual(['ASSIGNED#1', 'RUNNING#1', 'out#1:a1', 'out#1:a1', 'SUCCEEDED#1']);
  });

  it('rebuilt states carry what was known then: the worker, no exit code', () => {
    const shown = shownOf(job('PENDING'));
    const steps = jobSteps(job('SUCCEEDED'), [], 1);
    const items = planSteps(steps, shown);
    const running = items[1]?.kind === 'job' ? items[1].job : undefined;
    expect(running?.state).toBe('RUNNING');
    expect(running?.workerId).toBe('w1');
    expect(running?.exitCode).toBeNull();
    expect(running?.finishedAt).toBeNull();
  });

  it('tells every attempt of a job that was requeued twice between two reads', () => {
    const shown = shownOf(job('PENDING'));
    const attempts = [ended(1, 'RUNNING'), ended(2, 'ASSIGNED')];
    const { items } = round(job('SUCCEEDED', 3), [chunk(1), chunk(3)], shown, attempts);
    expect(items).toEqual([
      'ASSIGNED#1',
      'RUNNING#1',
      'out#1:a1',
      'PENDING#2',
      'ASSIGNED#2',
      'PENDING#3',
      'ASSIGNED#3',
      'RUNNING#3',
      'out#3:a3',
      'SUCCEEDED#3',
    ]);
  });

  it("ends an attempt's output before the next attempt is announced", () => {
    const shown = shownOf(job('RUNNING'));
    const { items } = round(job('PENDING', 2), [chunk(1), chunk(1)], shown, [ended(1, 'RUNNING')]);
    expect(items).toEqual(['out#1:a1', 'out#1:a1', 'PENDING#2']);
  });

  it('holds back output of an attempt newer than the job as read, until the job is read again', () => {
    const shown = shownOf(job('RUNNING'));
    const later = chunk(2);
    const first = round(job('RUNNING'), [chunk(1), later], shown);
    expect(first).toEqual({ items: ['out#1:a1'], placed: 1 });
    const again = round(job('RUNNING', 2), [later], shown, [ended(1, 'RUNNING')]);
    expect(again).toEqual({
      items: ['PENDING#2', 'ASSIGNED#2', 'RUNNING#2', 'out#2:a2'],
      placed: 1,
    });
  });

  it('holds back output when the job was read before its RUNNING', () => {
    const shown = shownOf(job('PENDING'));
    expect(round(job('ASSIGNED'), [chunk(1)], shown)).toEqual({ items: ['ASSIGNED#1'], placed: 0 });
  });

  it("never sends an earlier attempt's output after a later attempt was shown", () => {
    const shown = shownOf(job('RUNNING', 2));
    expect(round(job('RUNNING', 2), [chunk(1), chunk(2)], shown).items).toEqual(['out#2:a2']);
  });

  it('a job cancelled while PENDING goes straight to CANCELLED', () => {
    const shown = shownOf(job('PENDING'));
    expect(round(job('CANCELLED', 1, false), [], shown).items).toEqual(['CANCELLED#1']);
  });

  it('sends nothing when nothing changed, and no state twice', () => {
    const shown = shownOf(job('PENDING'));
    expect(round(job('RUNNING'), [], shown).items).toEqual(['ASSIGNED#1', 'RUNNING#1']);
    expect(round(job('RUNNING'), [], shown).items).toEqual([]);
  });
});
