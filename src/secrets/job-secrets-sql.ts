// SQL for job_secrets: one sealed map of secret values per job (migration 0013). Bytes travel as
// base64 text both ways, as job output does (job-output-sql.ts): the two database adapters read
// and bind bytea differently, text they treat alike.
import type { Queryable } from '../db/db.js';
import type { SealedSecrets } from './secret-box.js';

interface SealedRow {
  key_id: string;
  nonce: string;
  ciphertext: string;
  tag: string;
}

/** Stores the job's sealed secrets (inside the transaction that inserts the job); returns
 * nothing. */
export async function insertJobSecrets(
  q: Queryable,
  jobId: string,
  sealed: SealedSecrets,
): Promise<void> {
  await q.query(
    `INSERT INTO job_secrets (job_id, key_id, nonce, ciphertext, tag)
     VALUES ($1, $2, decode($3, 'base64'), decode($4, 'base64'), decode($5, 'base64'))`,
    [
      jobId,
      sealed.keyId,
      sealed.nonce.toString('base64'),
      sealed.ciphertext.toString('base64'),
      sealed.tag.toString('base64'),
    ],
  );
}

/** Returns the job's sealed secrets, or undefined when it has none stored. */
export async function findJobSecrets(
  q: Queryable,
  jobId: string,
): Promise<SealedSecrets | undefined> {
  const result = await q.query<SealedRow>(
    `SELECT key_id, encode(nonce, 'base64') AS nonce, encode(ciphertext, 'base64') AS ciphertext,
       encode(tag, 'base64') AS tag
     FROM job_secrets WHERE job_id = $1`,
    [jobId],
  );
  const row = result.rows[0];
  if (!row) return undefined;
  // encode(…, 'base64') breaks lines every 76 characters; Buffer.from ignores the newlines.
  return {
    keyId: row.key_id,
    nonce: Buffer.from(row.nonce, 'base64'),
    ciphertext: Buffer.from(row.ciphertext, 'base64'),
    tag: Buffer.from(row.tag, 'base64'),
  };
}

/** Deletes the secrets of up to `limit` finished jobs (nothing runs them again); returns how
 * many rows went. */
export async function deleteSecretsOfFinishedJobs(q: Queryable, limit: number): Promise<number> {
  const result = await q.query<{ deleted: number }>(
    `WITH gone AS (
       DELETE FROM job_secrets s WHERE s.job_id IN (
         SELECT s2.job_id FROM job_secrets s2 JOIN jobs j ON j.id = s2.job_id
         WHERE j.state IN ('SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELLED')
         LIMIT $1 FOR UPDATE OF s2 SKIP LOCKED)
       RETURNING 1
     )
     SELECT count(*)::int AS deleted FROM gone`,
    [limit],
  );
  return result.rows[0]?.deleted ?? 0;
}
