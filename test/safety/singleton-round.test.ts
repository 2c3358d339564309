// With several servers on one PostgreSQL database, a safety net's round runs on one of them at a
// time: the advisory lock makes a second instance skip its round (and count it), and the lock
// goes with the round (or with the connection of a server that dies mid-round).
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/db.js';
import type { Provider } from '../../src/providers/provider.js';
import { createDatabaseReaper, type DatabaseReaper } from '../../src/safety/database-reaper.js';
import { createInfrastructureReconciler } from '../../src/safety/infrastructure-reconciler.js';
import { SINGLETON_LOCKS } from '../../src/safety/singleton-round.js';
import { createMetrics, type Metrics } from '../../src/metrics/metrics.js';
import { silentLogger } from '../../src/shared/logger.js';
import type { TestDatabase } from '../helpers/db.js';
import { safetyHarness, type SafetyHarness } from './safety-harness.js';

/** The provider, with an inventory that takes `ms`: a round that is still running. */
function slowInventory(provider: Provider, ms: number): Provider {
  return {
    ...provider,
    async inventory() {
      await new Promise((r) => setTimeout(r, ms));
      return provider.inventory();
    },
  };
}

function reaperOn(h: SafetyHarness, db: Db, provider: Provider, metrics: Metrics): DatabaseReaper {
  return createDatabaseReaper({
    db,
    outbox: h.sagaDeps.outbox,
    provider,
    monitor: h.monitor,
    logger: silentLogger(),
    metrics,
    intervalMs: 0,
    jobSilenceMs: 90_000,
    creatingTimeoutMs: 60_000,
  });
}

describe('safety nets with several servers (postgres)', () => {
  let h: SafetyHarness;
  let second: Db;

  beforeEach(async () => {
    h = await safetyHarness('postgres');
    second = (h.t as TestDatabase).open();
  });
  afterEach(async () => {
    await h.close();
  });

  it("a second server's reaper skips its round while the first one's round runs", async () => {
    // Work for a round: a silent job, and a young CREATING worker whose look-up is slow.
    const silent = await h.workerRow({ state: 'BUSY', silentSeconds: 120 });
    const job = await h.runningJob(silent);
    await h.db.query('UPDATE workers SET current_job_id = $2 WHERE id = $1', [silent, job]);
    const young = randomUUID();
    const youngProcess = await h.startProcess(young);
    await h.workerRow({ id: young, state: 'CREATING', externalId: youngProcess, ageSeconds: 1 });

    const firstMetrics = createMetrics();
    const secondMetrics = createMetrics();
    const first = reaperOn(h, h.db, slowInventory(h.provider, 1_000), firstMetrics);
    const other = reaperOn(h, second, h.provider, secondMetrics);

    const running = first.runRound();
    await new Promise((r) => setTimeout(r, 300));
    expect(await other.runRound()).toBeUndefined();
    expect(await running).toMatchObject({ silent_job: 1 });
    // The lock went with the round: the second server's next round runs, and once the
    // RecoverySaga has requeued the job, finds nothing left to do.
    await h.deliverWorkerLost();
    expect(await other.runRound()).toEqual({
      silent_job: 0,
      creating_timed_out: 0,
      creating_gone: 0,
      creating_orphaned: 0,
      stranded_pending: 0,
    });

    const lost = (await h.outbox()).filter((e) => e.event_type === 'WorkerLost');
    expect(lost).toHaveLength(1);
    const rounds = await secondMetrics.registry.getSingleMetricAsString(
      'hodei_safety_net_rounds_total',
    );
    expect(rounds).toContain('{net="reaper",outcome="skipped"} 1');
    expect(rounds).toContain('{net="reaper",outcome="done"} 1');
    expect(
      await firstMetrics.registry.getSingleMetricAsString('hodei_safety_net_rounds_total'),
    ).toContain('{net="reaper",outcome="done"} 1');
  });

  it('a reconciler skips its round while another server holds its lock, and runs once that server is gone', async () => {
    const unknown = await h.startProcess(randomUUID());
    const reconciler = createInfrastructureReconciler({
      db: second,
      provider: h.provider,
      monitor: h.monitor,
      logger: silentLogger(),
      intervalMs: 0,
    });
    const holder = new pg.Client({ connectionString: (h.t as TestDatabase).url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock($1)', [SINGLETON_LOCKS.reconciler]);
      expect(await reconciler.runRound()).toBeUndefined();
      expect(await h.provider.exists(unknown)).toBe(true);
    } finally {
      // The holding server dies mid-round: its connection ends, and its lock with it.
      await holder.end();
    }
    expect(await reconciler.runRound()).toMatchObject({ destroy_unknown: 1 });
    expect(await h.provider.exists(unknown)).toBe(false);
  });
});
