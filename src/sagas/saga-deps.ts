// What saga steps need from the rest of the control plane.
import type { Db } from '../db/db.js';
import type { OutboxWriter } from '../outbox/outbox-writer.js';
import type { Provider } from '../providers/provider.js';
import type { WorkerSessions } from '../workers/worker-sessions.js';
import type { Logger } from '../shared/logger.js';
import type { SecretBox } from '../secrets/secret-box.js';

export interface SagaDeps {
  db: Db;
  outbox: OutboxWriter;
  provider: Provider;
  sessions: WorkerSessions;
  logger: Logger;
  /** Opens a job's secrets for its RUN (the server's secrets key). */
  secretBox: SecretBox;
  /** URL workers use to reach this control plane. */
  serverUrl(): string;
  /** This server process's id (workers.server_instance of the streams it holds). */
  serverInstance?: string;
  settings: {
    maxWorkers: number;
    provisioningTimeoutMs: number;
    /** How long a new worker's one-time password is valid; default DEFAULT_OTP_TTL_MS (60 s). */
    workerOtpTtlMs?: number;
    dispatchAckTimeoutMs: number;
    /** How long an execution saga waits for a free worker before it looks again. */
    workerWaitMs: number;
  };
}

export const WORKER_READY_KEY = 'worker-ready';

export function jobStartedKey(jobId: string, attempt: number): string {
  return `job-started:${jobId}:${attempt}`;
}

export function workerRegisteredKey(workerId: string): string {
  return `worker-registered:${workerId}`;
}

/** A retried attempt's wait for its backoff: nothing but its deadline wakes it. */
export function retryDueKey(jobId: string, attempt: number): string {
  return `retry-due:${jobId}:${attempt}`;
}
