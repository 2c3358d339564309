// The live streams of connected workers in this server process. Saga steps send RUN commands
// through it; the kill-switch learns from it when a stream drops.
import { HodeiError } from '../shared/errors.js';
import type { JobRecord } from '../jobs/job.js';

export interface WorkerSession {
  readonly workerId: string;
  /** Sends the RUN; `secrets` are the job's secret values, opened for this run ({} when none). */
  sendRun(job: JobRecord, secrets: Readonly<Record<string, string>>): void;
  sendCancel(jobId: string, attempt: number): void;
  close(reason: string): void;
}

export class WorkerNotConnectedError extends HodeiError {
  constructor(workerId: string) {
    super('WORKER_NOT_CONNECTED', `worker ${workerId} has no open stream`, { workerId });
  }
}

export interface WorkerSessions {
  /** Adds the worker's stream; false (and nothing changes) when it already has a live one. */
  tryAdd(session: WorkerSession): boolean;
  remove(session: WorkerSession): void;
  get(workerId: string): WorkerSession | undefined;
  has(workerId: string): boolean;
  /** Sends the command; throws WorkerNotConnectedError when the worker has no stream here. */
  sendRun(workerId: string, job: JobRecord, secrets: Readonly<Record<string, string>>): void;
  closeAll(reason: string): void;
}

export function createWorkerSessions(): WorkerSessions {
  const sessions = new Map<string, WorkerSession>();
  return {
    tryAdd(session) {
      // One stream per worker (DESIGN §11): a second Connect never replaces the live one.
      if (sessions.has(session.workerId)) return false;
      sessions.set(session.workerId, session);
      return true;
    },
    remove(session) {
      if (sessions.get(session.workerId) === session) sessions.delete(session.workerId);
    },
    get: (id) => sessions.get(id),
    has: (id) => sessions.has(id),
    sendRun(workerId, job, secrets) {
      const session = sessions.get(workerId);
      if (!session) throw new WorkerNotConnectedError(workerId);
      session.sendRun(job, secrets);
    },
    closeAll(reason) {
      for (const session of [...sessions.values()]) session.close(reason);
      sessions.clear();
    },
  };
}
