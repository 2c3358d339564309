// The InfrastructureReconciler against a real database (PostgreSQL and PGlite) and real worker
// processes under their reaper: the infrastructure of a TERMINATED worker is destroyed, a
// READY/BUSY worker whose process is gone is lost (WorkerLost, its job recovered by the
// RecoverySaga), a worker process no row knows is killed, and what is alive and known, or
// another installation's, is left alone.
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createInfrastructureReconciler,
  type InfrastructureReconciler,
} from '../../src/safety/infrastructure-reconciler.js';
import { createProcessProvider } from '../../src/providers/process/process-provider.js';
import { findJob } from '../../src/jobs/job-sql.js';
import { findWorker } from '../../src/workers/worker-sql.js';
import { silentLogger } from '../../src/shared/logger.js';
import { DB_KINDS } from '../helpers/databases.js';
import { isAlive } from '../helpers/procs.js';
import {
  IDLE_WORKER,
  gone,
  killHard,
  orphanedWorkerProcess,
  safetyHarness,
  type SafetyHarness,
} from './safety-harness.js';

for (const kind of DB_KINDS) {
  describe(`InfrastructureReconciler (${kind})`, () => {
    let h: SafetyHarness;
    let reconciler: InfrastructureReconciler;
    const strays: number[] = [];

    beforeEach(async () => {
      h = await safetyHarness(kind);
      reconciler = createInfrastructureReconciler({
        db: h.db,
        provider: h.provider,
        monitor: h.monitor,
        logger: silentLogger(),
        metrics: h.metrics,
        intervalMs: 0,
      });
    });
    afterEach(async () => {
      await reconciler.stop();
      for (const pid of strays.splice(0)) killHard(pid);
      await h.close();
    });

    it('destroys the live process of a TERMINATED worker', async () => {
      const worker = randomUUID();
      const externalId = await h.startProcess(worker);
      await h.workerRow({ id: worker, state: 'TERMINATED', externalId, silentSeconds: 60 });

      const round = await reconciler.runRound();
      expect(round).toMatchObject({ destroy_terminated: 1, destroy_unknown: 0, worker_lost: 0 });
      await gone(externalId);
      expect(await h.outbox()).toEqual([]);
      expect(
        await h.metrics.registry.getSingleMetricAsString('hodei_safety_net_actions_total'),
      ).toContain('{net="reconciler",action="destroy_terminated"} 1');
    });

    it('loses a BUSY worker whose process is gone, and its job is requeued by the RecoverySaga', async () => {
      const worker = randomUUID();
      const externalId = await h.startProcess(worker);
      const job = await h.runningJob(worker);
      // Heard from a second ago: the kill-switch's heartbeat check would not catch it yet.
      await h.workerRow({
        id: worker,
        state: 'BUSY',
        externalId,
        currentJobId: job,
        silentSeconds: 1,
      });
      killHard(externalId);
      await gone(externalId);

      expect(await reconciler.runRound()).toMatchObject({ worker_lost: 1 });
      expect((await findWorker(h.db, worker))?.state).toBe('TERMINATED');
      const events = await h.outbox();
      expect(events.map((e) => e.event_type)).toEqual(['WorkerLost']);
      expect(events[0]?.payload).toMatchObject({
        workerId: worker,
        jobId: job,
        attempt: 1,
        reason: 'its infrastructure is gone',
      });
      await h.deliverWorkerLost();
      expect(await findJob(h.db, job)).toMatchObject({ state: 'PENDING', attempt: 2 });
    });

    it('loses a READY worker whose process is gone', async () => {
      const worker = randomUUID();
      const externalId = await h.startProcess(worker);
      await h.workerRow({ id: worker, state: 'READY', externalId, silentSeconds: 1 });
      killHard(externalId);
      await gone(externalId);

      expect(await reconciler.runRound()).toMatchObject({ worker_lost: 1 });
      expect((await findWorker(h.db, worker))?.state).toBe('TERMINATED');
      expect((await h.outbox()).map((e) => e.payload)).toEqual([
        { workerId: worker, reason: 'its infrastructure is gone' },
      ]);
    });

    it('kills worker processes no row knows: one this server started, one a dead server left behind', async () => {
      const unknown = await h.startProcess(randomUUID());
      const leftBehind = await orphanedWorkerProcess(randomUUID(), h.installationId);
      strays.push(leftBehind);

      expect(await reconciler.runRound()).toMatchObject({ destroy_unknown: 2, worker_lost: 0 });
      await gone(unknown);
      await gone(leftBehind);
      expect(await h.outbox()).toEqual([]);
    });

    it('kills a second process of a known worker (a create that crashed before recording it)', async () => {
      const worker = randomUUID();
      const recorded = await h.startProcess(worker);
      const leftover = await h.startProcess(worker);
      await h.workerRow({ id: worker, state: 'READY', externalId: recorded, silentSeconds: 1 });

      expect(await reconciler.runRound()).toMatchObject({ destroy_leftover: 1, worker_lost: 0 });
      await gone(leftover);
      expect(isAlive(Number(recorded))).toBe(true);
      expect((await findWorker(h.db, worker))?.state).toBe('READY');
    });

    it("leaves alone what is alive and known, CREATING workers, and another installation's workers", async () => {
      const busy = randomUUID();
      const busyProcess = await h.startProcess(busy);
      await h.workerRow({ id: busy, state: 'BUSY', externalId: busyProcess, silentSeconds: 1 });
      const creating = randomUUID();
      const creatingProcess = await h.startProcess(creating);
      await h.workerRow({ id: creating, state: 'CREATING' }); // its external id not recorded yet
      const other = createProcessProvider({
        command: IDLE_WORKER,
        logger: silentLogger(),
        installationId: randomUUID(),
      });
      const { externalId: foreign } = await other.create({
        workerId: randomUUID(),
        otp: 'x',
        serverUrl: 'http://127.0.0.1:1',
        correlationId: 'c',
      });
      try {
        expect(await reconciler.runRound()).toEqual({
          destroy_terminated: 0,
          destroy_unknown: 0,
          destroy_leftover: 0,
          worker_lost: 0,
        });
        for (const pid of [busyProcess, creatingProcess, foreign])
          expect(isAlive(Number(pid))).toBe(true);
        expect(await h.outbox()).toEqual([]);
      } finally {
        await other.destroy(foreign);
        await other.close();
      }
    });
  });
}
