// The worker record as the control plane stores it.
import type { WorkerState } from './worker-state.js';

export interface WorkerRecord {
  id: string;
  provider: string;
  externalId: string;
  state: WorkerState;
  currentJobId: string | null;
  correlationId: string;
  jobsRun: number;
  createdAt: Date;
  registeredAt: Date | null;
  lastHeartbeatAt: Date | null;
  readySince: Date | null;
  /** The server process holding its stream (set when the stream opens). */
  serverInstance: string | null;
  terminatedAt: Date | null;
  /** Why it was terminated ('' while it lives). */
  terminationReason: string;
}
