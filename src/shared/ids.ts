// Identifier derivation. Saga ids are UUID v5 of a stable name, so a redelivered event that tries
// to start the same saga derives the same id and the insert does nothing.
import { v4 as uuidv4, v5 as uuidv5, validate } from 'uuid';

/** Namespace for every derived id in Hodei (a fixed, random UUID). */
export const HODEI_NAMESPACE = '6f1c3f0e-5b7a-4a55-9d7e-0b9a3c2e8d41';

export function newId(): string {
  return uuidv4();
}

export function deriveId(name: string): string {
  return uuidv5(name, HODEI_NAMESPACE);
}

export function executionSagaId(jobId: string, attempt: number): string {
  return deriveId(`execution-saga-${jobId}-${attempt}`);
}

export function provisioningSagaId(requestId: string): string {
  return deriveId(`provisioning-saga-${requestId}`);
}

/** One recovery per lost worker, and per job attempt it lost: the DatabaseReaper's WorkerLost
 * for a job an earlier WorkerLost of the same worker did not name starts a recovery of its own. */
export function recoverySagaId(workerId: string, job?: { jobId: string; attempt: number }): string {
  return deriveId(
    job ? `recovery-saga-${workerId}-${job.jobId}-${job.attempt}` : `recovery-saga-${workerId}`,
  );
}

export function isUuid(value: string): boolean {
  return validate(value);
}
