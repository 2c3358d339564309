// SQL for a worker's one-time password (workers.otp_hash, otp_used, otp_expires_at): one function
// per statement. Only the hash is stored; the password itself goes to the worker's stdin.
import type { Queryable } from '../db/db.js';
import type { WorkerState } from './worker-state.js';

export interface WorkerOtpRow {
  otpHash: string;
  otpUsed: boolean;
  /** Past its expiry by the database's clock (the clock that set it). */
  expired: boolean;
  state: WorkerState;
}

/** Gives a CREATING worker a fresh OTP valid for `ttlMs`; returns whether it was set. */
export async function setWorkerOtp(
  q: Queryable,
  id: string,
  otpHash: string,
  ttlMs: number,
): Promise<boolean> {
  const result = await q.query(
    `UPDATE workers
     SET otp_hash = $2, otp_expires_at = now() + make_interval(secs => $3::double precision / 1000)
     WHERE id = $1 AND state = 'CREATING' AND NOT otp_used`,
    [id, otpHash, ttlMs],
  );
  return result.rowCount === 1;
}

/**
 * Returns the worker's OTP state for registration checks (row locked), or undefined. A worker
 * without an expiry (a row written before migration 0004) has no deadline.
 */
export async function findWorkerOtp(q: Queryable, id: string): Promise<WorkerOtpRow | undefined> {
  const result = await q.query<{
    otp_hash: string;
    otp_used: boolean;
    expired: boolean;
    state: WorkerState;
  }>(
    `SELECT otp_hash, otp_used, coalesce(otp_expires_at <= now(), false) AS expired, state
     FROM workers WHERE id = $1 FOR UPDATE`,
    [id],
  );
  const row = result.rows[0];
  return row
    ? { otpHash: row.otp_hash, otpUsed: row.otp_used, expired: row.expired, state: row.state }
    : undefined;
}

/** Spends the unexpired OTP of a CREATING worker; returns whether it was still unspent. */
export async function spendWorkerOtp(q: Queryable, id: string): Promise<boolean> {
  const result = await q.query(
    `UPDATE workers SET otp_used = true, registered_at = now()
     WHERE id = $1 AND state = 'CREATING' AND NOT otp_used
       AND (otp_expires_at IS NULL OR otp_expires_at > now())`,
    [id],
  );
  return result.rowCount === 1;
}

/** Counts a refused registration of a CREATING worker; returns its failures so far, or undefined. */
export async function countRegistrationFailure(
  q: Queryable,
  id: string,
): Promise<number | undefined> {
  const result = await q.query<{ registration_failures: number }>(
    `UPDATE workers SET registration_failures = registration_failures + 1
     WHERE id = $1 AND state = 'CREATING'
     RETURNING registration_failures`,
    [id],
  );
  return result.rows[0]?.registration_failures;
}
