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

export interface Provider {
  readonly name: string;
  /** Starts the infrastructure for one worker; resolves with its external id (pid, container…). */
  create(spec: WorkerLaunchSpec): Promise<{ externalId: string }>;
  /** Destroys it and everything it started. Idempotent: destroying what is gone succeeds. */
  destroy(externalId: string): Promise<void>;
  exists(externalId: string): Promise<boolean>;
  /** External ids of every worker this provider is running now. */
  list(): Promise<string[]>;
  capacity(): Promise<ProviderCapacity>;
  /** Called when infrastructure this provider created stops by itself. Returns an unsubscribe. */
  onExit(listener: (exit: WorkerExit) => void): () => void;
  /** Stops watching; does not destroy workers (the server's shutdown does that explicitly). */
  close(): Promise<void>;
}
