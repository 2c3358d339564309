// Worker registration: a new worker proves itself once with its one-time password (DESIGN §11).
// Every refusal looks the same to the caller (RegistrationRefusedError, UNAUTHENTICATED), so the
// API tells nobody which worker ids exist or which passwords were close; the specific reason is
// logged here, at warn, with the worker id.
import type { Db } from '../db/db.js';
import type { Logger } from '../shared/logger.js';
import { RegistrationRefusedError } from '../shared/errors.js';
import { findWorkerOtp, spendWorkerOtp } from './worker-otp-sql.js';
import { otpMatches } from './otp.js';

export interface WorkerRegistrationDeps {
  db: Db;
  logger: Logger;
}

export function createWorkerRegistration(deps: WorkerRegistrationDeps) {
  const { db, logger } = deps;

  /** Why `otp` does not register `workerId`, or undefined once it has been spent for it. */
  async function spend(workerId: string, otp: string): Promise<string | undefined> {
    return db.transaction(async (tx) => {
      const found = await findWorkerOtp(tx, workerId);
      if (!found) return 'unknown worker';
      if (!otpMatches(otp, found.otpHash)) return 'wrong one-time password';
      if (found.otpUsed) return 'one-time password already used';
      if (found.state !== 'CREATING') return `worker is ${found.state}, not CREATING`;
      if (found.expired) return 'one-time password expired';
      // Guarded like the checks above; false only if a concurrent registration won.
      if (!(await spendWorkerOtp(tx, workerId))) return 'one-time password already used';
      return undefined;
    });
  }

  /**
   * Spends the worker's one-time password (once; the worker turns READY only when its stream
   * opens). Throws RegistrationRefusedError, with one message for every reason.
   */
  async function register(workerId: string, otp: string): Promise<void> {
    const reason = await spend(workerId, otp);
    if (reason === undefined) return;
    logger.warn({ workerId, reason }, 'worker registration refused');
    throw new RegistrationRefusedError(workerId, reason);
  }

  return { register };
}

export type WorkerRegistration = ReturnType<typeof createWorkerRegistration>;
