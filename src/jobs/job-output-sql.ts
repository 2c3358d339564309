// SQL for job_output: a job's output in chunks of bytes, per attempt, stored as the worker sends
// them so that output outlives the worker. Lines are not stored; readers split chunks into lines.
import type { Queryable } from '../db/db.js';

export type OutputStream = 'stdout' | 'stderr';

export interface StoredChunk {
  seq: number;
  attempt: number;
  stream: OutputStream;
  data: Uint8Array;
  at: Date;
  /** The worker that sent it; null for a line the platform wrote. */
  workerId: string | null;
}

/** The largest chunk stored: the server cuts bigger ones (workers/run-output.ts). */
export const MAX_STORED_CHUNK_BYTES = 64 * 1024;

/** Cuts chunks bigger than MAX_STORED_CHUNK_BYTES into pieces of that size, in order. */
export function cutChunks(chunks: readonly NewChunk[]): NewChunk[] {
  if (chunks.every((c) => c.data.length <= MAX_STORED_CHUNK_BYTES)) return [...chunks];
  return chunks.flatMap((chunk) => {
    const pieces: NewChunk[] = [];
    for (let at = 0; at < chunk.data.length; at += MAX_STORED_CHUNK_BYTES) {
      pieces.push({ ...chunk, data: chunk.data.subarray(at, at + MAX_STORED_CHUNK_BYTES) });
    }
    return pieces;
  });
}

/** A chunk with its place in its attempt (see job_output.part). */
export interface NumberedChunk extends NewChunk {
  part: number;
}

export interface NewChunk {
  stream: OutputStream;
  data: Uint8Array;
  at: Date;
}

/**
 * Data comes back in base64: node-postgres reads results as text only, where bytea is hex (twice
 * its size); base64 took 0.6 s against hex's 1.4 s for 27 MB of output on this machine.
 */
interface ChunkRow {
  seq: number;
  attempt: number;
  stream: OutputStream;
  data: string;
  at: Date;
  worker_id: string | null;
}

/**
 * Bytes travel as base64 text both ways: PGlite turns a bytea parameter into hex in JavaScript
 * (10 s of CPU for 27 MB on this machine), and node-postgres reads results only as text.
 */
function base64(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
}

/**
 * Stores numbered chunks of one attempt in one statement, in order. Stored only while the job is
 * RUNNING that attempt on that worker: the job row is read FOR SHARE, so a requeue or a result
 * waits for this insert, and a chunk that arrives after them is refused. So every chunk of
 * attempt N has a lower seq than any chunk of attempt N + 1. A chunk whose part is stored already
 * is skipped (a retry after a lost reply). `fromPlatform` stores a line the platform writes on
 * the worker's behalf (the dropped-output marker). Returns whether the attempt was running there.
 */
export async function appendOutput(
  q: Queryable,
  entry: {
    jobId: string;
    attempt: number;
    workerId: string;
    chunks: readonly NumberedChunk[];
    fromPlatform?: boolean;
  },
): Promise<boolean> {
  if (entry.chunks.length === 0) return true;
  const params: unknown[] = [entry.jobId, entry.attempt, entry.workerId, !entry.fromPlatform];
  const values = entry.chunks.map((chunk) => {
    params.push(chunk.part, chunk.stream, base64(chunk.data), chunk.at.toISOString());
    const n = params.length;
    return `($${n - 3}::int, $${n - 2}::text, decode($${n - 1}, 'base64'), $${n}::timestamptz)`;
  });
  const result = await q.query<{ running: number }>(
    `WITH j AS (
       SELECT id, attempt, worker_id, correlation_id FROM jobs
       WHERE id = $1 AND attempt = $2 AND worker_id = $3 AND state = 'RUNNING'
       FOR SHARE),
     stored AS (
       INSERT INTO job_output (job_id, attempt, part, stream, data, worker_id, correlation_id, at)
       SELECT j.id, j.attempt, v.part, v.stream, v.data,
              CASE WHEN $4::boolean THEN j.worker_id END, j.correlation_id, v.at
       FROM j CROSS JOIN (VALUES ${values.join(', ')}) AS v(part, stream, data, at)
       ORDER BY v.part
       ON CONFLICT (job_id, attempt, part) DO NOTHING
       RETURNING 1)
     SELECT (SELECT count(*) FROM j)::int AS running, (SELECT count(*) FROM stored)::int AS stored`,
    params,
  );
  return (result.rows[0]?.running ?? 0) > 0;
}

export interface OutputQuery {
  jobId: string;
  /** Chunks with a seq greater than this. */
  afterSeq: number;
  /** Only this attempt; 0 for every attempt. */
  attempt: number;
  /** Most chunks to return. */
  limit: number;
  /** The page ends once it holds this many bytes (it holds at least one chunk). */
  maxBytes: number;
}

/** Returns the next chunks of the job in seq order, at most `limit` and `maxBytes`. */
export async function readOutput(q: Queryable, query: OutputQuery): Promise<StoredChunk[]> {
  // The page is cut by bytes over the rows the limit allows (sizes are read from the toast
  // pointers: only the rows sent are read whole).
  const result = await q.query<ChunkRow>(
    `SELECT seq, attempt, stream, encode(data, 'base64') AS data, at, worker_id FROM (
       SELECT page.*, sum(octet_length(data)) OVER (ORDER BY seq) - octet_length(data) AS before
       FROM (SELECT seq, attempt, stream, data, at, worker_id FROM job_output
             WHERE job_id = $1 AND seq > $2 AND ($3 = 0 OR attempt = $3)
             ORDER BY seq LIMIT $4) page) sized
     WHERE before < $5
     ORDER BY seq`,
    [query.jobId, query.afterSeq, query.attempt, query.limit, query.maxBytes],
  );
  return result.rows.map((row) => ({
    seq: Number(row.seq),
    attempt: row.attempt,
    stream: row.stream,
    data: Buffer.from(row.data, 'base64'),
    at: row.at,
    workerId: row.worker_id,
  }));
}

/** Deletes the output of up to `limit` jobs that finished more than `olderThanMs` ago and marks
 * them (output_deleted_at), in one statement; returns how many jobs and chunks. */
export async function deleteOutputOfFinishedJobs(
  q: Queryable,
  olderThanMs: number,
  limit: number,
): Promise<{ jobs: number; chunks: number }> {
  const result = await q.query<{ jobs: number; chunks: number }>(
    `WITH picked AS (
       SELECT id FROM jobs
       WHERE finished_at IS NOT NULL AND output_deleted_at IS NULL
         AND finished_at < now() - make_interval(secs => $1::double precision / 1000)
         AND state IN ('SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELLED')
       ORDER BY finished_at LIMIT $2
       FOR UPDATE SKIP LOCKED
     ), gone AS (
       DELETE FROM job_output o USING picked p WHERE o.job_id = p.id RETURNING 1
     ), marked AS (
       UPDATE jobs j SET output_deleted_at = now() FROM picked p WHERE j.id = p.id RETURNING 1
     )
     SELECT (SELECT count(*) FROM marked)::int AS jobs, (SELECT count(*) FROM gone)::int AS chunks`,
    [olderThanMs, limit],
  );
  return result.rows[0] ?? { jobs: 0, chunks: 0 };
}
