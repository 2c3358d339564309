// The provider port: where worker infrastructure comes from. Adapters live beside this file:
// providers/process (child processes, the default); docker and kubernetes come later.

export interface WorkerLaunchSpec {
  /** The worker row's id; the agent registers under it. */
  workerId: string;
  /** One-time password the agent presents once, at registration. */
  otp: string;
  /** Where the agent reaches the control plane, e.g. http://127.0.0.1:50051. */
  serverUrl: string;
  correlationId: string;
}

export interface ProviderCapacity {
  /** Most workers this provider will run at once; undefined means no limit of its own. */
  maxWorkers?: number;
}

export interface WorkerExit {
  externalId: string;
  code: number | null;
  signal: string | null;
}

/** One worker's infrastructure as the provider sees it, whoever started it. */
export interface WorkerInfrastructure {
  externalId: string;
  /** The worker it was started for (the process provider reads HODEI_WORKER_ID). */
  workerId: string;
  /** The server process that started it is gone (killed, crashed): nobody receives its exit
   * and it is no one's to wait for. Always false for what this server process started. */
  orphaned: boolean;
}

export interface Provider {
  readonly name: string;
  /** Starts the infrastructure for one worker; resolves with its external id (pid, container…). */
  create(spec: WorkerLaunchSpec): Promise<{ externalId: string }>;
  /** Destroys it and everything it started. Idempotent: destroying what is gone succeeds. */
  destroy(externalId: string): Promise<void>;
  /** Whether the infrastructure still runs, whichever server process started it. */
  exists(externalId: string): Promise<boolean>;
  /** External ids of every worker this provider (this server process) started and still runs. */
  list(): Promise<string[]>;
  /**
   * Every worker infrastructure of this installation the provider can see, including what an
   * earlier server process or another server started; the safety nets (src/safety/) compare it
   * with the workers table. Another installation's workers are never listed. The process
   * provider sees the processes of its own machine only (docs/architecture.md, Safety nets).
   */
  inventory(): Promise<WorkerInfrastructure[]>;
  capacity(): Promise<ProviderCapacity>;
  /** Called when infrastructure this provider created stops by itself. Returns an unsubscribe. */
  onExit(listener: (exit: WorkerExit) => void): () => void;
  /** Stops watching; does not destroy workers (the server's shutdown does that explicitly). */
  close(): Promise<void>;
}
