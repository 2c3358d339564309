// SQL for job_logs: lines are stored durably as they arrive, so logs outlive the worker.
import type { Queryable } from '../db/db.js';

export interface StoredLogLine {
  seq: number;
  attempt: number;
  stream: 'stdout' | 'stderr';
  line: string;
  at: Date;
}

export interface NewLogLine {
  stream: 'stdout' | 'stderr';
  line: string;
  at: Date;
}

/** Appends lines in one statement; returns how many were stored. */
export async function appendLogLines(
  q: Queryable,
  entry: { jobId: string; attempt: number; correlationId: string; lines: readonly NewLogLine[] },
): Promise<number> {
  if (entry.lines.length === 0) return 0;
  const result = await q.query(
    `INSERT INTO job_logs (job_id, attempt, correlation_id, stream, line, at)
     SELECT $1, $2, $3, s, l, a FROM unnest($4::text[], $5::text[], $6::timestamptz[]) AS t(s, l, a)`,
    [
      entry.jobId,
      entry.attempt,
      entry.correlationId,
      entry.lines.map((l) => l.stream),
      entry.lines.map((l) => l.line),
      entry.lines.map((l) => l.at.toISOString()),
    ],
  );
  return result.rowCount;
}

/** Returns up to `limit` lines of the job after `afterSeq`, in order. */
export async function readLogLines(
  q: Queryable,
  jobId: string,
  afterSeq: number,
  limit: number,
): Promise<StoredLogLine[]> {
  const result = await q.query<StoredLogLine>(
    `SELECT seq, attempt, stream, line, at FROM job_logs
     WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
    [jobId, afterSeq, limit],
  );
  return result.rows.map((r) => ({ ...r, seq: Number(r.seq) }));
}
