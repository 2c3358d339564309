// The loop both safety nets run in: one round at start, then one every interval, never two at
// once in this process, and with several servers only where the loop's advisory lock is taken
// (singleton-round.ts). Each round is counted in hodei_safety_net_rounds_total by outcome.
import type { Db } from '../db/db.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { errorMessage } from '../shared/errors.js';
import { runSingletonRound } from './singleton-round.js';

export type SafetyNetName = 'reaper' | 'reconciler' | 'retention';

export interface SafetyLoopOptions<T> {
  net: SafetyNetName;
  db: Db;
  lockKey: number;
  /** Time between rounds; 0 runs only the round at start. */
  intervalMs: number;
  logger: Logger;
  metrics?: Metrics;
  round: () => Promise<T>;
  /** Runs after a round that ran, once its lock is released (its transaction ended): work that
   * must not run inside that transaction, such as VACUUM. */
  afterRound?: (value: T) => Promise<void>;
}

export interface SafetyLoop<T> {
  /** Runs one round now: its result, or undefined when skipped (a round is running here, or
   * another server holds the lock). Throws what the round threw. */
  runRound(): Promise<T | undefined>;
  /** Runs the first round (a failure is logged, not thrown), then one every interval. */
  start(): Promise<void>;
  /** Stops the timer and waits for a round in flight. */
  stop(): Promise<void>;
}

export function createSafetyLoop<T>(options: SafetyLoopOptions<T>): SafetyLoop<T> {
  const { net, logger } = options;
  let running: Promise<unknown> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  const count = (outcome: 'done' | 'skipped' | 'failed') =>
    options.metrics?.safetyNetRounds.inc({ net, outcome });

  async function runRound(): Promise<T | undefined> {
    if (running) {
      count('skipped');
      return undefined;
    }
    const round = runSingletonRound(options.db, options.lockKey, options.round).then(
      async (outcome) => {
        if (outcome.ran) await options.afterRound?.(outcome.value);
        return outcome;
      },
    );
    running = round;
    try {
      const outcome = await round;
      count(outcome.ran ? 'done' : 'skipped');
      if (!outcome.ran) logger.debug('another server holds the lock; round skipped');
      return outcome.ran ? outcome.value : undefined;
    } catch (error) {
      count('failed');
      throw error;
    } finally {
      running = undefined;
    }
  }

  async function tick(): Promise<void> {
    try {
      await runRound();
    } catch (error) {
      logger.warn({ error: errorMessage(error) }, 'safety net round failed');
    }
  }

  function schedule(): void {
    if (stopped || options.intervalMs <= 0) return;
    timer = setTimeout(() => {
      void tick().finally(schedule);
    }, options.intervalMs);
    timer.unref();
  }

  return {
    runRound,
    async start() {
      await tick();
      schedule();
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running?.catch(() => undefined);
    },
  };
}
