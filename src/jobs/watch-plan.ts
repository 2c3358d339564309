// The order in which WatchJob tells a job's story: every state the job passed through, once and
// in order, with the output chunks of each attempt between its RUNNING and the state that ended
// it. The watcher may read the job seldom (a burst of changes between two reads is common: a job
// that runs `true` goes PENDING → ASSIGNED → RUNNING → SUCCEEDED in a few milliseconds), so the
// states are rebuilt, not sampled: an ended attempt's steps come from its job_attempts row
// (assigned_at, started_at, its worker), the current attempt's from the job row, and each state
// is a step keyed by (attempt, rank). What makes the chunks' place right: output of an attempt is
// stored only while that attempt is RUNNING (job-output-sql.ts) and before the job moves on, so a
// chunk of an attempt whose RUNNING step is not yet known was stored after the job was read: the
// plan stops there and the watcher reads the job again.
import type { JobRecord } from './job.js';
import type { JobAttemptRecord } from './job-attempt-sql.js';
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

const RUNNING_RANK = 2;

/** The last step the watcher was sent. */
export interface Shown {
  attempt: number;
  rank: number;
}

export function shownOf(job: JobRecord): Shown {
  return { attempt: job.attempt, rank: rank(job.state) };
}

function after(job: JobRecord, shown: Shown): boolean {
  return job.attempt !== shown.attempt ? job.attempt > shown.attempt : rank(job.state) > shown.rank;
}

/** The job as it was at an earlier step of `attempt` (nothing of its end known yet). */
function stepOf(
  job: JobRecord,
  attempt: number,
  state: JobState,
  times: { workerId: string | null; assignedAt: Date | null; startedAt: Date | null },
): JobRecord {
  return {
    ...job,
    attempt,
    state,
    workerId: state === 'PENDING' ? null : times.workerId,
    assignedAt: state === 'PENDING' ? null : times.assignedAt,
    startedAt: state === 'RUNNING' ? times.startedAt : null,
    exitCode: null,
    error: '',
    finishedAt: null,
    retryAt: null,
  };
}

/**
 * Every state `job` (as read) passed through from `fromAttempt` on, oldest first, the last being
 * `job` itself. `attempts` are the job's ended attempts; only those before the job's current
 * attempt are used (rows written after the job was read describe a later story).
 */
export function jobSteps(
  job: JobRecord,
  attempts: readonly JobAttemptRecord[],
  fromAttempt: number,
): JobRecord[] {
  const steps: JobRecord[] = [];
  for (const ended of attempts) {
    if (ended.attempt < fromAttempt || ended.attempt >= job.attempt) continue;
    steps.push(stepOf(job, ended.attempt, 'PENDING', ended));
    if (ended.assignedAt) steps.push(stepOf(job, ended.attempt, 'ASSIGNED', ended));
    if (ended.startedAt) steps.push(stepOf(job, ended.attempt, 'RUNNING', ended));
  }
  const current = rank(job.state);
  if (current > 0) steps.push(stepOf(job, job.attempt, 'PENDING', job));
  if (current > 1 && job.assignedAt) steps.push(stepOf(job, job.attempt, 'ASSIGNED', job));
  if (current > 2 && job.startedAt) steps.push(stepOf(job, job.attempt, 'RUNNING', job));
  steps.push(job);
  return steps;
}

/**
 * Plans one page of chunks against the steps known; `shown` is updated in place. Returns the
 * items to send and how many chunks were placed: fewer than given when a chunk belongs to a
 * RUNNING not yet known (read the job again, then plan the rest).
 */
export function planChunks(
  steps: readonly JobRecord[],
  chunks: readonly StoredChunk[],
  shown: Shown,
): { items: WatchItem[]; placed: number } {
  const items: WatchItem[] = [];
  let placed = 0;
  for (const chunk of chunks) {
    // Output of an attempt before the first one shown: never interleaved with a later story.
    if (chunk.attempt >= shown.attempt) {
      const running = steps.findIndex(
        (s) => s.attempt === chunk.attempt && rank(s.state) === RUNNING_RANK,
      );
      if (running < 0) {
        if (chunk.attempt > shown.attempt || shown.rank < RUNNING_RANK) break;
      } else {
        for (const step of steps.slice(0, running + 1)) {
          if (!after(step, shown)) continue;
          items.push({ kind: 'job', job: step });
          Object.assign(shown, shownOf(step));
        }
      }
      items.push({ kind: 'chunk', chunk });
    }
    placed += 1;
  }
  return { items, placed };
}

/** After the chunks: the steps not yet shown, ending with the job as read. */
export function planSteps(steps: readonly JobRecord[], shown: Shown): WatchItem[] {
  const items: WatchItem[] = [];
  for (const step of steps) {
    if (!after(step, shown)) continue;
    items.push({ kind: 'job', job: step });
    Object.assign(shown, shownOf(step));
  }
  return items;
}
