// Records a running saga's completed steps in order, in the background: the next step starts at
// once instead of after the record's round trip (on the ExecutionSaga that takes three database
// round trips, ~1 ms each on a 2-core machine, off the way from JobQueued to the RUN command).
//
// Safe because steps are idempotent, as they must be anyway: a crash between a step's effect and
// its record has always meant running that step again on resume. A crash before a background
// record lands means the same. The engine waits for every record before it parks, finishes or
// compensates a saga, so whatever depends on the records (WAITING rows, completed-step lists for
// compensation) sees them all.
export interface StepProgress {
  /** Queues a record after the earlier ones; `write` resolves false when the saga moved on. */
  record(write: () => Promise<boolean>): void;
  /** True once a record found the saga moved on or failed: run no further step. */
  readonly halted: boolean;
  /** Resolves when every queued record has landed: false if one found the saga moved on; rejects
   * with the error of a record that failed. */
  settled(): Promise<boolean>;
}

export function createStepProgress(): StepProgress {
  let chain: Promise<boolean> = Promise.resolve(true);
  let halted = false;
  return {
    record(write) {
      chain = chain
        .then((advanced) => (advanced ? write() : false))
        .then(
          (advanced) => {
            if (!advanced) halted = true;
            return advanced;
          },
          (error: unknown) => {
            halted = true;
            throw error;
          },
        );
      // The caller learns of a failure through settled(); until then it is not unhandled.
      chain.catch(() => undefined);
    },
    get halted() {
      return halted;
    },
    settled: () => chain,
  };
}
