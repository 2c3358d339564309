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

/** The largest chunk stored: bigger ones are cut (appendOutput), so pages are sized in rows. */
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
 * Appends chunks of one attempt in one statement, in order; returns how many were stored. Stored
 * only while the job is RUNNING that attempt on that worker: the job row is read FOR SHARE, so a
 * requeue or a result waits for this insert, and a chunk that arrives after them is refused. So
 * every chunk of attempt N has a lower seq than any chunk of attempt N + 1. `workerId` null
 * stores a line the platform writes on the worker's behalf (the dropped-output marker).
 */
export async function appendOutput(
  q: Queryable,
  entry: {
    jobId: string;
    attempt: number;
    workerId: string;
    chunks: readonly NewChunk[];
    fromPlatform?: boolean;
  },
): Promise<number> {
  if (entry.chunks.length === 0) return 0;
  const params: unknown[] = [entry.jobId, entry.attempt, entry.workerId, !entry.fromPlatform];
  const values = cutChunks(entry.chunks).map((chunk, i) => {
    params.push(chunk.stream, base64(chunk.data), chunk.at.toISOString());
    const n = params.length;
    return `(${i}, $${n - 2}::text, decode($${n - 1}, 'base64'), $${n}::timestamptz)`;
  });
  const result = await q.query(
    `INSERT INTO job_output (job_id, attempt, stream, data, worker_id, correlation_id, at)
     SELECT j.id, j.attempt, v.stream, v.data, CASE WHEN $4::boolean THEN j.worker_id END,
            j.correlation_id, v.at
     FROM (SELECT id, attempt, worker_id, correlation_id FROM jobs
           WHERE id = $1 AND attempt = $2 AND worker_id = $3 AND state = 'RUNNING'
           FOR SHARE) j
     CROSS JOIN (VALUES ${values.join(', ')}) AS v(ord, stream, data, at)
     ORDER BY v.ord`,
    params,
  );
  return result.rowCount;
}

export interface OutputQuery {
  jobId: string;
  /** Chunks with a seq greater than this. */
  afterSeq: number;
  /** Only this attempt; 0 for every attempt. */
  attempt: number;
  /** Most chunks to return. */
  limit: number;
  /** The page holds at most about this many bytes (at least one chunk). */
  maxBytes: number;
}

/** Returns the next chunks of the job in seq order, at most `limit` and `maxBytes`. */
export async function readOutput(q: Queryable, query: OutputQuery): Promise<StoredChunk[]> {
  // Chunks hold at most MAX_STORED_CHUNK_BYTES, so a page of maxBytes is a number of rows.
  const rows = Math.max(
    1,
    Math.min(query.limit, Math.floor(query.maxBytes / MAX_STORED_CHUNK_BYTES)),
  );
  const result = await q.query<ChunkRow>(
    `SELECT seq, attempt, stream, encode(data, 'base64') AS data, at, worker_id
     FROM job_output
     WHERE job_id = $1 AND seq > $2 AND ($3 = 0 OR attempt = $3)
     ORDER BY seq LIMIT $4`,
    [query.jobId, query.afterSeq, query.attempt, rows],
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
