// The retention loop: keeps storage per job flat by deleting, in small batches, what has served
// its purpose (every interval, 1 min by default, and once at start):
// - outbox events published more than `eventsMs` ago (7 days): the bus has them, every consumer
//   has long settled them; dead-lettered events are kept (failed_events is the operator's);
// - messages of the PostgreSQL-table bus as old, once no consumer may still be delivered them;
// - sagas finished as long ago, with their steps;
// - the output of jobs finished more than `jobOutputMs` ago (30 days), the job marked so that
//   reading its logs says they were deleted rather than show nothing;
// - the sealed secrets of finished jobs, at the first round after they finish, whatever the ages
//   (nothing runs a finished job again; its secret names stay on the job).
// Jobs and their attempts are the record and stay. Each batch is one short statement, so the
// loop never holds locks the job path waits on; a round deletes at most `maxBatches` batches per
// kind and leaves the rest to the next, then vacuums the tables it deleted from. With several
// servers one round runs at a time.
import type { Db } from '../db/db.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { deletePublishedEvents } from '../outbox/outbox-sql.js';
import { deleteSettledMessages } from '../bus/postgres/retention-sql.js';
import { deleteFinishedSagas } from '../sagas/saga-sql.js';
import { deleteOutputOfFinishedJobs } from '../jobs/job-output-sql.js';
import { deleteSecretsOfFinishedJobs } from '../secrets/job-secrets-sql.js';
import { SINGLETON_LOCKS } from './singleton-round.js';
import { createSafetyLoop, type SafetyLoop } from './safety-loop.js';

export interface RetentionOptions {
  db: Db;
  logger: Logger;
  metrics?: Metrics;
  /** Between rounds (HODEI_RETENTION_INTERVAL); 0: only the round at start. */
  intervalMs: number;
  /** Age of published events, bus messages and finished sagas (HODEI_RETENTION_EVENTS); 0 keeps
   * them forever. */
  eventsMs: number;
  /** Age of finished jobs' output (HODEI_RETENTION_JOB_OUTPUT); 0 keeps it forever. */
  jobOutputMs: number;
  /** Whether the table bus is in use (its tables are empty otherwise). */
  tableBus: boolean;
  /** Rows per statement (jobs per statement for output). */
  batchSize?: number;
  /** Statements per kind and round. */
  maxBatches?: number;
}

/** Rows deleted in one round, by kind (the metric's `table` label). */
export interface RetentionRound {
  outbox_events: number;
  bus_messages: number;
  saga_instances: number;
  job_output: number;
  job_secrets: number;
}

export type Retention = SafetyLoop<RetentionRound>;

const BATCH = 1000;
const OUTPUT_JOBS_BATCH = 100;
const MAX_BATCHES = 50;

/** The tables each kind deletes from (cascades included). */
const VACUUMED: Readonly<Record<keyof RetentionRound, readonly string[]>> = {
  outbox_events: ['outbox_events'],
  bus_messages: ['bus_messages', 'bus_deliveries'],
  saga_instances: ['saga_instances', 'saga_steps'],
  job_output: ['job_output', 'jobs'],
  job_secrets: ['job_secrets'],
};

export function createRetention(options: RetentionOptions): Retention {
  const { db, logger, metrics } = options;
  const batch = options.batchSize ?? BATCH;
  const maxBatches = options.maxBatches ?? MAX_BATCHES;

  /** Runs `deleteBatch` until a batch comes back short or the round's share is spent. */
  async function drain(
    deleteBatch: (limit: number) => Promise<number>,
    limit: number,
  ): Promise<number> {
    let total = 0;
    for (let i = 0; i < maxBatches; i += 1) {
      const deleted = await deleteBatch(limit);
      total += deleted;
      if (deleted < limit) break;
    }
    return total;
  }

  async function round(): Promise<RetentionRound> {
    const counts: RetentionRound = {
      outbox_events: 0,
      bus_messages: 0,
      saga_instances: 0,
      job_output: 0,
      job_secrets: 0,
    };
    counts.job_secrets = await drain((n) => deleteSecretsOfFinishedJobs(db, n), batch);
    const age = options.eventsMs;
    if (age > 0) {
      counts.outbox_events = await drain((n) => deletePublishedEvents(db, age, n), batch);
      if (options.tableBus) {
        counts.bus_messages = await drain((n) => deleteSettledMessages(db, age, n), batch);
      }
      counts.saga_instances = await drain((n) => deleteFinishedSagas(db, age, n), batch);
    }
    if (options.jobOutputMs > 0) {
      const outputBatch = Math.max(1, Math.min(batch, OUTPUT_JOBS_BATCH));
      // Batches are counted in jobs; the figure kept is the output rows (chunks) deleted.
      await drain(async (n) => {
        const { jobs, chunks } = await deleteOutputOfFinishedJobs(db, options.jobOutputMs, n);
        counts.job_output += chunks;
        return jobs;
      }, outputBatch);
    }
    const deleted = Object.entries(counts) as Array<[keyof RetentionRound, number]>;
    for (const [table, rows] of deleted) {
      if (rows > 0) metrics?.retentionDeletedRows.inc({ table }, rows);
    }
    if (deleted.some(([, rows]) => rows > 0)) {
      logger.info({ net: 'retention', deleted: counts }, 'retention deleted old rows');
    }
    return counts;
  }

  /** VACUUM of the tables a round deleted from, once its lock's transaction has ended (an open
   * transaction keeps the rows deleted after it began from being reclaimed). Deleted rows' space
   * is reused only once vacuumed: the embedded database runs no autovacuum, and a PostgreSQL
   * without it, or whose autovacuum lags behind a busy hour, would otherwise grow however much is
   * deleted. A plain VACUUM takes no lock that writers wait on; ANALYZE keeps the statistics the
   * delete batches are planned with current where autoanalyze does not run. */
  async function vacuum(counts: RetentionRound): Promise<void> {
    const tables = (Object.keys(VACUUMED) as Array<keyof RetentionRound>)
      .filter((kind) => counts[kind] > 0)
      .flatMap((kind) => VACUUMED[kind]);
    if (tables.length > 0) await db.query(`VACUUM (ANALYZE) ${tables.join(', ')}`);
  }

  return createSafetyLoop({
    net: 'retention',
    db,
    lockKey: SINGLETON_LOCKS.retention,
    intervalMs: options.intervalMs,
    logger,
    metrics,
    round,
    afterRound: vacuum,
  });
}
