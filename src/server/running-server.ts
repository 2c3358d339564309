// What a started control plane hands back to whoever started it (the CLI, tests, benchmarks).
export interface RunningServer {
  /** Base URL clients and workers use, e.g. http://127.0.0.1:50051. */
  readonly url: string;
  readonly port: number;
  /** Which adapters are in use, for the start-up banner. */
  readonly adapters: {
    readonly database: 'postgres' | 'pglite';
    readonly bus: 'jetstream' | 'postgres';
  };
  /** Whether calls need an API token, and how many live tokens exist (0: a hint is printed). */
  readonly auth: { readonly mode: 'token' | 'off'; readonly liveTokens: number };
  /** Stops every component in reverse order of start-up and destroys the workers it started. */
  stop(): Promise<void>;
}
