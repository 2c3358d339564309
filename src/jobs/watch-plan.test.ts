// WatchJob's ordering: RUNNING before an attempt's output, output before the message that ends the
// attempt, attempts never interleaved, and a RUNNING the watcher never saw rebuilt from output.
import { describe, expect, it } from 'vitest';
import type { JobRecord } from './job.js';
import type { StoredChunk } from './job-output-sql.js';
import type { JobState } from './job-state.js';
import { jobRecord } from '../../test/helpers/job-spec.js';
import { planChunks, planJob, shownOf, type WatchItem } from './watch-plan.js';

function job(state: JobState, attempt = 1, workerId: string | null = 'w1'): JobRecord {
  return jobRecord({ state, attempt, workerId, exitCode: state === 'SUCCEEDED' ? 0 : null });
}

let seq = 0;
function chunk(attempt: number, workerId = `w${attempt}`): StoredChunk {
  seq += 1;
  return {
    seq,
    attempt,
    stream: 'stdout',
    data: Buffer.from(`a${attempt}`),
    at: new Date(0),
    workerId,
  };
}

const describeItems = (items: WatchItem[]) =>
  items.map((i) =>
    i.kind === 'job'
      ? `${i.job.state}#${i.job.attempt}`
      : `out#${i.chunk.attempt}:${Buffer.from(i.chunk.data).toString()}`,
  );

function round(read: JobRecord, chunks: StoredChunk[], shown: ReturnType<typeof shownOf>) {
  return describeItems([...planChunks(read, chunks, shown), ...planJob(read, shown)]);
}

describe('watch plan', () => {
  it('sends RUNNING before the output when the job was read as ASSIGNED', () => {
    const shown = shownOf(job('PENDING'));
    expect(round(job('ASSIGNED'), [chunk(1), chunk(1)], shown)).toEqual([
      'ASSIGNED#1',
      'RUNNING#1',
      'out#1:a1',
      'out#1:a1',
    ]);
  });

  it('sends the output of a finished attempt before its terminal state', () => {
    const shown = shownOf(job('RUNNING'));
    expect(round(job('SUCCEEDED'), [chunk(1)], shown)).toEqual(['out#1:a1', 'SUCCEEDED#1']);
  });

  it('rebuilds RUNNING for output of an attempt it only saw finished', () => {
    const shown = shownOf(job('PENDING'));
    const items = [
      ...planChunks(job('SUCCEEDED'), [chunk(1)], shown),
      ...planJob(job('SUCCEEDED'), shown),
    ];
    expect(describeItems(items)).toEqual(['RUNNING#1', 'out#1:a1', 'SUCCEEDED#1']);
    const running = items[0]?.kind === 'job' ? items[0].job : undefined;
    expect(running?.exitCode).toBeNull();
    expect(running?.workerId).toBe('w1');
  });

  it("ends an attempt's output before the next attempt is announced", () => {
    const shown = shownOf(job('RUNNING'));
    // Read as requeued (attempt 2) while attempt 1 output was still unsent.
    expect(round(job('PENDING', 2, null), [chunk(1), chunk(1)], shown)).toEqual([
      'out#1:a1',
      'out#1:a1',
      'PENDING#2',
    ]);
  });

  it('announces a new attempt before its output, even when the job was read earlier', () => {
    const shown = shownOf(job('RUNNING'));
    // The job read still said attempt 1 RUNNING; by the chunk read attempt 2 was running.
    expect(round(job('RUNNING'), [chunk(1), chunk(2)], shown)).toEqual([
      'out#1:a1',
      'RUNNING#2',
      'out#2:a2',
    ]);
  });

  it("never sends an earlier attempt's output after a later attempt was shown", () => {
    const shown = shownOf(job('RUNNING', 2, 'w2'));
    expect(round(job('RUNNING', 2, 'w2'), [chunk(1), chunk(2)], shown)).toEqual(['out#2:a2']);
  });

  it('sends nothing when nothing changed', () => {
    const shown = shownOf(job('RUNNING'));
    expect(round(job('RUNNING'), [], shown)).toEqual([]);
  });
});
