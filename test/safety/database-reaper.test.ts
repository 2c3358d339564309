// The DatabaseReaper against a real database (PostgreSQL and PGlite) and real worker processes:
// a RUNNING job whose worker has been silent past the threshold is recovered through WorkerLost
// and the RecoverySaga (requeued, or failed when its attempts are spent); CREATING workers that
// will never register (too old, infrastructure gone, or left behind by a dead server) are
// terminated and destroyed, so their slots are free at once; what is alive and young is left be.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDatabaseReaper, type DatabaseReaper } from '../../src/safety/database-reaper.js';
import { findJob, insertJobStatement } from '../../src/jobs/job-sql.js';
import { countLiveWorkers, findWorker } from '../../src/workers/worker-sql.js';
import { executionSagaId, recoverySagaId } from '../../src/shared/ids.js';
import { randomUUID } from 'node:crypto';
import { runStatement } from '../../src/db/statement.js';
import { jobSpec } from '../helpers/job-spec.js';
import { provisioningSaga } from '../../src/sagas/provisioning-saga.js';
import { silentLogger } from '../../src/shared/logger.js';
import { DB_KINDS } from '../helpers/databases.js';
import { isAlive } from '../helpers/procs.js';
import {
  MAX_WORKERS,
  gone,
  killHard,
  orphanedWorkerProcess,
  safetyHarness,
  type SafetyHarness,
} from './safety-harness.js';

const SILENCE_S = 90;
const CREATING_TIMEOUT_S = 60;

for (const kind of DB_KINDS) {
  describe(`DatabaseReaper (${kind})`, () => {
    let h: SafetyHarness;
    let reaper: DatabaseReaper;
    const orphans: number[] = [];

    beforeEach(async () => {
      h = await safetyHarness(kind);
      reaper = createDatabaseReaper({
        db: h.db,
        outbox: h.sagaDeps.outbox,
        provider: h.provider,
        monitor: h.monitor,
        logger: silentLogger(),
        metrics: h.metrics,
        intervalMs: 0,
        jobSilenceMs: SILENCE_S * 1000,
        creatingTimeoutMs: CREATING_TIMEOUT_S * 1000,
      });
    });
    afterEach(async () => {
      await reaper.stop();
      for (const pid of orphans.splice(0)) killHard(pid);
      await h.close();
    });

    it('requeues a RUNNING job whose worker has been silent past the threshold, through WorkerLost and the RecoverySaga', async () => {
      const silentWorker = await h.workerRow({ state: 'BUSY', silentSeconds: SILENCE_S + 30 });
      const externalId = await h.startProcess(silentWorker);
      await h.db.query('UPDATE workers SET external_id = $2 WHERE id = $1', [
        silentWorker,
        externalId,
      ]);
      const job = await h.runningJob(silentWorker);
      await h.db.query('UPDATE workers SET current_job_id = $2 WHERE id = $1', [silentWorker, job]);
      // A worker heard from 10 s ago keeps its job, however long the job has run.
      const liveWorker = await h.workerRow({ state: 'BUSY', silentSeconds: 10 });
      const liveJob = await h.runningJob(liveWorker);

      const round = await reaper.runRound();
      expect(round?.silent_job).toBe(1);

      const events = await h.outbox();
      expect(events.map((e) => e.event_type)).toEqual(['WorkerLost']);
      expect(events[0]?.payload).toMatchObject({ workerId: silentWorker, jobId: job, attempt: 1 });
      expect(String(events[0]?.payload.reason)).toMatch(/^no word from the worker for 1[12]\d s$/);
      expect((await findWorker(h.db, silentWorker))?.state).toBe('TERMINATED');
      await gone(externalId);

      expect(await h.deliverWorkerLost()).toBe(1);
      const requeued = await findJob(h.db, job);
      expect(requeued).toMatchObject({ state: 'PENDING', attempt: 2, workerId: null });
      expect(requeued?.error).toMatch(/^worker lost: no word from the worker/);
      const after = await h.outbox(events[0]?.seq);
      const requeuedEvents = after.filter((e) => e.event_type === 'JobRequeued');
      expect(requeuedEvents.map((e) => e.aggregate_id)).toEqual([job]);
      expect(requeuedEvents[0]?.payload).toMatchObject({ jobId: job, attempt: 2 });

      expect((await findJob(h.db, liveJob))?.state).toBe('RUNNING');
      expect((await findWorker(h.db, liveWorker))?.state).toBe('BUSY');
      expect(
        await h.metrics.registry.getSingleMetricAsString('hodei_safety_net_actions_total'),
      ).toContain('hodei_safety_net_actions_total{net="reaper",action="silent_job"} 1');

      // Nothing left to do: a second round writes nothing.
      const last = (await h.outbox()).at(-1)?.seq;
      expect(await reaper.runRound()).toMatchObject({ silent_job: 0 });
      expect(await h.outbox(last)).toEqual([]);
    });

    it('fails the job when its attempts are spent', async () => {
      const worker = await h.workerRow({ state: 'BUSY', silentSeconds: SILENCE_S + 30 });
      const job = await h.runningJob(worker, { attempt: 2, maxAttempts: 2 });
      await h.db.query('UPDATE workers SET current_job_id = $2 WHERE id = $1', [worker, job]);
      // Its first attempt was cut short by a lost worker too: one of two spent.
      await h.db.query(
        `INSERT INTO job_attempts (job_id, attempt, outcome, error) VALUES ($1, 1, 'WORKER_LOST', 'lost')`,
        [job],
      );

      expect((await reaper.runRound())?.silent_job).toBe(1);
      await h.deliverWorkerLost();

      const failed = await findJob(h.db, job);
      expect(failed).toMatchObject({ state: 'FAILED', attempt: 2 });
      expect(failed?.error).toMatch(/^worker lost: no word from the worker/);
      const types = (await h.outbox()).map((e) => e.event_type);
      expect(types).toContain('JobFailed');
      expect(types).not.toContain('JobRequeued');
    });

    it('recovers a job whose worker was terminated earlier by a WorkerLost that did not name it', async () => {
      // The worker's first recovery ran (WorkerLost without a job, its saga completed), yet the
      // job is still RUNNING on it: only a recovery of this job attempt gets it going again.
      const worker = await h.workerRow({ state: 'READY', silentSeconds: SILENCE_S + 30 });
      expect(await h.monitor.workerLost(worker, 'stream closed')).toBe(true);
      expect(await h.deliverWorkerLost()).toBe(1);
      const first = await h.db.query<{ state: string }>(
        'SELECT state FROM saga_instances WHERE id = $1',
        [recoverySagaId(worker)],
      );
      expect(first.rows[0]?.state).toBe('COMPLETED');
      const job = await h.runningJob(worker);
      await h.db.query(
        "UPDATE workers SET last_heartbeat_at = now() - interval '5 minutes' WHERE id = $1",
        [worker],
      );

      expect((await reaper.runRound())?.silent_job).toBe(1);
      const lost = (await h.outbox()).filter((e) => e.event_type === 'WorkerLost');
      expect(lost.map((e) => e.payload.jobId)).toEqual([undefined, job]);
      await h.deliverWorkerLost();
      expect(await findJob(h.db, job)).toMatchObject({ state: 'PENDING', attempt: 2 });
    });

    it('starts again a PENDING job whose saga never started; one with a saga, or recent, is left', async () => {
      const insert = async (ageSeconds: number, attempt = 1) => {
        const id = randomUUID();
        await runStatement(
          h.db,
          insertJobStatement({
            id,
            spec: jobSpec(),
            idempotencyKey: null,
            correlationId: `c-${id}`,
          }),
        );
        await h.db.query(
          `UPDATE jobs SET attempt = $2, updated_at = now() - make_interval(secs => $3) WHERE id = $1`,
          [id, attempt, ageSeconds],
        );
        return id;
      };
      const stranded = await insert(SILENCE_S + 30, 2);
      const recent = await insert(5);
      const withSaga = await insert(SILENCE_S + 30);
      // Its ExecutionSaga exists (waiting for a worker, as a saga does): not stranded.
      await h.db.query(
        `INSERT INTO saga_instances (id, saga_type, state, correlation_id)
         VALUES ($1, 'execution', 'WAITING', 'c') ON CONFLICT DO NOTHING`,
        [executionSagaId(withSaga, 1)],
      );
      const before = (await h.outbox()).length;
      const round = await reaper.runRound();
      expect(round?.stranded_pending).toBe(1);
      const written = (await h.outbox()).slice(before);
      expect(written.map((r) => [r.event_type, r.aggregate_id, r.payload.attempt])).toEqual([
        ['JobRequeued', stranded, 2],
      ]);
      expect(String(written[0]?.payload.reason)).toMatch(/stranded/);
      // A second round finds the saga the event starts (or, here, the same stranded job again:
      // the event is idempotent by its saga id).
      expect(recent).not.toBe(stranded);
    });

    it('terminates CREATING workers that will never register and frees their slots at once; young live ones stay', async () => {
      // Too old: alive, but past the deadline.
      const old = await h.workerRow({ state: 'CREATING', ageSeconds: CREATING_TIMEOUT_S + 5 });
      const oldProcess = await h.startProcess(old);
      await h.db.query('UPDATE workers SET external_id = $2 WHERE id = $1', [old, oldProcess]);
      // Young, but its process is gone (it failed to register with a server that died).
      const dead = await h.workerRow({ state: 'CREATING', ageSeconds: 2 });
      const deadProcess = await h.startProcess(dead);
      await h.db.query('UPDATE workers SET external_id = $2 WHERE id = $1', [dead, deadProcess]);
      killHard(deadProcess);
      await gone(deadProcess);
      // Young and alive, but the server process that started it is gone.
      const orphan = await h.workerRow({ state: 'CREATING', ageSeconds: 2 });
      const orphanPid = await orphanedWorkerProcess(orphan, h.installationId);
      orphans.push(orphanPid);
      await h.db.query('UPDATE workers SET external_id = $2 WHERE id = $1', [
        orphan,
        String(orphanPid),
      ]);
      // Young and alive, started by this server process: still registering, left alone.
      const young = await h.workerRow({ state: 'CREATING', ageSeconds: 2 });
      const youngProcess = await h.startProcess(young);
      await h.db.query('UPDATE workers SET external_id = $2 WHERE id = $1', [young, youngProcess]);
      expect(await countLiveWorkers(h.db)).toBe(MAX_WORKERS);

      // At capacity: a provisioning request now gets no worker.
      const capacity = provisioningCapacityCheck(h);
      expect(await capacity('before')).toMatchObject({ kind: 'finish' });

      const round = await reaper.runRound();
      expect(round).toEqual({
        silent_job: 0,
        creating_timed_out: 1,
        creating_gone: 1,
        creating_orphaned: 1,
        stranded_pending: 0,
      });
      for (const id of [old, dead, orphan]) {
        expect((await findWorker(h.db, id))?.state).toBe('TERMINATED');
      }
      expect((await findWorker(h.db, young))?.state).toBe('CREATING');
      await gone(oldProcess);
      await gone(orphanPid);
      expect(isAlive(Number(youngProcess))).toBe(true);
      const lost = (await h.outbox()).filter((e) => e.event_type === 'WorkerLost');
      expect(lost.map((e) => e.aggregate_id).sort()).toEqual([old, dead, orphan].sort());

      // The slots are free: the next provisioning request gets a worker at once.
      expect(await countLiveWorkers(h.db)).toBe(1);
      expect(await capacity('after')).toMatchObject({ kind: 'next' });
    });
  });
}

/** Runs the ProvisioningSaga's capacity step for a new request: 'finish' means at capacity. */
function provisioningCapacityCheck(h: SafetyHarness) {
  return async (request: string) => {
    const step = provisioningSaga(h.sagaDeps).steps[0]!;
    return step.execute({
      sagaId: `saga-${request}`,
      correlationId: `corr-${request}`,
      context: { requestId: `${request}-${Math.random()}`, provider: 'process' },
      wake: undefined,
      memo: {},
    });
  };
}
