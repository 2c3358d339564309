// The job ledger: every chaos job's command appends `start` and `end` lines (job id, attempt,
// shell pid, time in ns) to one file. A watcher notes when the shell of a started attempt is
// gone without its `end` line (its worker was killed), so every attempt has an interval, and
// the figures come from it: commands run more than once, attempts of one job that overlapped.
import { existsSync, readFileSync } from 'node:fs';

/** The job's command: `sh -c SCRIPT LEDGER SECONDS` (HODEI_JOB_ID and HODEI_ATTEMPT come from the agent). */
export function ledgerJob(ledger: string, seconds: number): { command: string; args: string[] } {
  const line = (what: string) =>
    `echo "${what} $HODEI_JOB_ID $HODEI_ATTEMPT $$ $(date +%s%N)" >> "$0"`;
  return {
    command: 'sh',
    args: ['-c', `${line('start')}; sleep "$1"; ${line('end')}`, ledger, String(seconds)],
  };
}

export interface Attempt {
  jobId: string;
  attempt: number;
  pid: number;
  startMs: number;
  /** From the `end` line, or when the watcher first saw the shell gone; undefined: still running. */
  endMs?: number;
  ended: 'normally' | 'killed' | 'running';
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export interface LedgerWatcher {
  /** Reads what was appended since the last look. */
  poll(): void;
  attempts(): Attempt[];
  stop(): void;
}

export function watchLedger(file: string, everyMs = 100): LedgerWatcher {
  const byKey = new Map<string, Attempt>();
  const list: Attempt[] = [];
  let consumed = 0;
  const poll = () => {
    if (existsSync(file)) {
      const text = readFileSync(file, 'utf8');
      const complete = text.lastIndexOf('\n') + 1;
      for (const line of text.slice(consumed, complete).split('\n')) {
        const [kind, jobId, attempt, pid, ns] = line.trim().split(' ');
        if (!kind || !jobId || !ns) continue;
        const key = `${jobId}/${attempt}/${pid}`;
        const at = Number(BigInt(ns) / 1_000_000n);
        if (kind === 'start') {
          const a: Attempt = {
            jobId,
            attempt: Number(attempt),
            pid: Number(pid),
            startMs: at,
            ended: 'running',
          };
          byKey.set(key, a);
          list.push(a);
        } else if (kind === 'end') {
          const a = byKey.get(key);
          if (a) Object.assign(a, { endMs: at, ended: 'normally' });
        }
      }
      consumed = complete;
    }
    const now = Date.now();
    for (const a of list) {
      if (a.ended === 'running' && !alive(a.pid)) {
        // One more read: the end line may have been written just before the shell exited.
        a.endMs = now;
        a.ended = 'killed';
      }
    }
  };
  const timer = setInterval(poll, everyMs);
  return {
    poll,
    attempts: () => list,
    stop: () => clearInterval(timer),
  };
}

export interface LedgerFigures {
  /** Jobs whose command started more than once. */
  reExecuted: number;
  /** Of those, runs that followed an attempt that had ended normally (the command completed twice). */
  reRunAfterCompletion: number;
  /** Of those, runs that followed an attempt killed mid-run (its worker died). */
  reRunAfterKill: number;
  /** Jobs with two attempts whose intervals intersect. */
  overlapping: number;
  overlapExamples: string[];
}

export function ledgerFigures(attempts: Attempt[]): LedgerFigures {
  const byJob = new Map<string, Attempt[]>();
  for (const a of attempts) byJob.set(a.jobId, [...(byJob.get(a.jobId) ?? []), a]);
  let reExecuted = 0;
  let reRunAfterCompletion = 0;
  let reRunAfterKill = 0;
  let overlapping = 0;
  const overlapExamples: string[] = [];
  for (const [jobId, runs] of byJob) {
    if (runs.length < 2) continue;
    reExecuted += 1;
    runs.sort((x, y) => x.startMs - y.startMs);
    for (let i = 1; i < runs.length; i++) {
      const prev = runs[i - 1];
      if (prev?.ended === 'normally') reRunAfterCompletion += 1;
      else reRunAfterKill += 1;
    }
    let overlap = false;
    for (let i = 0; i < runs.length && !overlap; i++) {
      for (let j = i + 1; j < runs.length; j++) {
        const a = runs[i];
        const b = runs[j];
        if (a && b && b.startMs < (a.endMs ?? Infinity)) {
          overlap = true;
          if (overlapExamples.length < 5) {
            overlapExamples.push(
              `${jobId}: attempt ${a.attempt} [${a.startMs}, ${a.endMs ?? 'running'}] and attempt ${b.attempt} started ${b.startMs}`,
            );
          }
          break;
        }
      }
    }
    if (overlap) overlapping += 1;
  }
  return { reExecuted, reRunAfterCompletion, reRunAfterKill, overlapping, overlapExamples };
}

/** ms from each event to the first start of `jobId` (or of any job) after it. */
export function nextStartAfter(
  attempts: Attempt[],
  atMs: number,
  jobId?: string,
): number | undefined {
  let best: number | undefined;
  for (const a of attempts) {
    if (jobId && a.jobId !== jobId) continue;
    if (a.startMs >= atMs && (best === undefined || a.startMs < best)) best = a.startMs;
  }
  return best === undefined ? undefined : best - atMs;
}
