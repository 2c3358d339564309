// The order in which WatchJob tells a job's story: state changes and output chunks interleaved as
// they happened. The watcher reads the job, then the chunks stored since; this plans what to send
// from those two reads. What makes it right: output of an attempt is stored only while that
// attempt is RUNNING (job-output-sql.ts), and every chunk of attempt N is stored before the job
// moves on (requeue, result), so chunks read after the job are complete for every attempt the
// job has left. Rules: an attempt's chunks come after a RUNNING message for that attempt (the
// job as read, or rebuilt from the chunk when the watcher never saw it running), never after
// a later attempt's message, and before the message that ends the attempt.
import type { JobRecord } from './job.js';
import type { StoredChunk } from './job-output-sql.js';
import type { JobState } from './job-state.js';

export type WatchItem = { kind: 'job'; job: JobRecord } | { kind: 'chunk'; chunk: StoredChunk };

/** How far along its attempt a state is. */
function rank(state: JobState): number {
  if (state === 'PENDING') return 0;
  if (state === 'ASSIGNED') return 1;
  if (state === 'RUNNING') return 2;
  return 3;
}

/** What the watcher last sent about the job. */
export interface Shown {
  attempt: number;
  state: JobState;
  workerId: string | null;
}

export function shownOf(job: JobRecord): Shown {
  return { attempt: job.attempt, state: job.state, workerId: job.workerId };
}

/** True when `job` is further along than what was shown, or the same step with other details. */
export function isNews(job: JobRecord, shown: Shown): boolean {
  if (job.attempt !== shown.attempt) return job.attempt > shown.attempt;
  if (rank(job.state) !== rank(shown.state)) return rank(job.state) > rank(shown.state);
  return job.state !== shown.state || job.workerId !== shown.workerId;
}

/** The job as it was while `chunk`'s attempt ran (for a RUNNING the watcher did not see). */
function runningAt(job: JobRecord, chunk: StoredChunk): JobRecord {
  const same = job.attempt === chunk.attempt;
  return {
    ...job,
    attempt: chunk.attempt,
    state: 'RUNNING',
    workerId: chunk.workerId ?? (same ? job.workerId : null),
    exitCode: null,
    error: '',
    assignedAt: same ? job.assignedAt : null,
    startedAt: same ? job.startedAt : null,
    finishedAt: null,
  };
}

/**
 * Plans one page of chunks (read after `job`); `shown` is updated in place. Call `finish` after
 * the last page of a round.
 */
export function planChunks(job: JobRecord, chunks: readonly StoredChunk[], shown: Shown) {
  const items: WatchItem[] = [];
  const show = (next: JobRecord) => {
    items.push({ kind: 'job', job: next });
    Object.assign(shown, shownOf(next));
  };
  for (const chunk of chunks) {
    if (chunk.attempt < shown.attempt) continue; // an earlier attempt's: never interleave
    if (job.attempt === chunk.attempt && rank(job.state) <= 2 && isNews(job, shown)) show(job);
    if (chunk.attempt > shown.attempt || rank(shown.state) < 2) show(runningAt(job, chunk));
    items.push({ kind: 'chunk', chunk });
  }
  return items;
}

/** After the round's chunks: the job as read, if it says something new. */
export function planJob(job: JobRecord, shown: Shown): WatchItem[] {
  if (!isNews(job, shown)) return [];
  Object.assign(shown, shownOf(job));
  return [{ kind: 'job', job }];
}
