// Worker registration: a new worker proves itself once with its one-time password (DESIGN §11).
// Every refusal looks the same to the caller (RegistrationRefusedError, UNAUTHENTICATED), so the
// API tells nobody which worker ids exist or which passwords were close; the specific reason is
// logged here, at warn, with the worker id. Guessing is slow and short: every refusal is answered
// after the same delay, and a known worker refused `maxAttempts` times is terminated through the
// kill-switch (WorkerLost, its process destroyed), which voids its password for good.
import { setTimeout as delay } from 'node:timers/promises';
import type { Db } from '../db/db.js';
import type { Logger } from '../shared/logger.js';
import { RegistrationRefusedError } from '../shared/errors.js';
import { countRegistrationFailure, findWorkerOtp, spendWorkerOtp } from './worker-otp-sql.js';
import { otpMatches } from './otp.js';
import type { WorkerMonitor } from './worker-monitor.js';

export interface WorkerRegistrationDeps {
  db: Db;
  logger: Logger;
  /** Terminates a worker refused too often. */
  monitor: Pick<WorkerMonitor, 'workerLost'>;
  /** Refusals a worker may have; the one that reaches this terminates it. */
  maxAttempts: number;
  /** How long every refusal waits before it is answered. */
  refusalDelayMs: number;
}

type Refusal = { reason: string; failures?: number };

export function createWorkerRegistration(deps: WorkerRegistrationDeps) {
  const { db, logger } = deps;

  /** Why `otp` does not register `workerId`, or undefined once it has been spent for it. */
  async function spend(workerId: string, otp: string): Promise<Refusal | undefined> {
    return db.transaction(async (tx) => {
      const found = await findWorkerOtp(tx, workerId);
      if (!found) return { reason: 'unknown worker' };
      // Only a CREATING worker's password can still be guessed; a worker past it is not put at
      // risk by anyone who learns its id.
      const refused = async (reason: string): Promise<Refusal> => ({
        reason,
        failures:
          found.state === 'CREATING' ? await countRegistrationFailure(tx, workerId) : undefined,
      });
      if (!otpMatches(otp, found.otpHash)) return refused('wrong one-time password');
      if (found.otpUsed) return refused('one-time password already used');
      if (found.state !== 'CREATING') return refused(`worker is ${found.state}, not CREATING`);
      if (found.expired) return refused('one-time password expired');
      // Guarded like the checks above; false only if a concurrent registration won.
      if (!(await spendWorkerOtp(tx, workerId))) return refused('one-time password already used');
      return undefined;
    });
  }

  /**
   * Spends the worker's one-time password (once; the worker turns READY only when its stream
   * opens). Throws RegistrationRefusedError, with one message for every reason.
   */
  async function register(workerId: string, otp: string): Promise<void> {
    const refusal = await spend(workerId, otp);
    if (refusal === undefined) return;
    const { reason, failures } = refusal;
    logger.warn({ workerId, reason, failures }, 'worker registration refused');
    if (failures !== undefined && failures >= deps.maxAttempts) {
      await deps.monitor.workerLost(workerId, `${failures} refused registrations`);
    }
    await delay(deps.refusalDelayMs);
    throw new RegistrationRefusedError(workerId, reason);
  }

  return { register };
}

export type WorkerRegistration = ReturnType<typeof createWorkerRegistration>;
