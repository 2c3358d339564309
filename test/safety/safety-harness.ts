// What the safety-net tests share: a fresh database (PostgreSQL or PGlite), the real process
// provider marked with the database's installation id, the real kill-switch (a WorkerMonitor that
// is never started, so only the safety nets act) and a RecoverySaga behind the real saga
// processor. deliverWorkerLost() stands in for the relay and the bus: it hands the WorkerLost
// rows of the outbox, in order and once each, to the saga processor, as the consumer would.
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import type { Db } from '../../src/db/db.js';
import { createOutboxWriter } from '../../src/outbox/outbox-writer.js';
import { createProcessProvider } from '../../src/providers/process/process-provider.js';
import type { Provider } from '../../src/providers/provider.js';
import { createWorkerLiveness } from '../../src/workers/worker-liveness.js';
import { createWorkerMonitor, type WorkerMonitor } from '../../src/workers/worker-monitor.js';
import { createWorkerSessions } from '../../src/workers/worker-sessions.js';
import { createJobWatch } from '../../src/jobs/job-watch.js';
import { insertJobStatement } from '../../src/jobs/job-sql.js';
import { insertWorker } from '../../src/workers/worker-sql.js';
import { runStatement } from '../../src/db/statement.js';
import { createSagaEngine, type SagaEngine } from '../../src/sagas/saga-engine.js';
import { createSagaProcessor } from '../../src/sagas/saga-processor.js';
import { recoverySaga } from '../../src/sagas/recovery-saga.js';
import { provisioningSaga } from '../../src/sagas/provisioning-saga.js';
import type { SagaDeps } from '../../src/sagas/saga-deps.js';
import { isEventType } from '../../src/events/catalog.js';
import { createMetrics, type Metrics } from '../../src/metrics/metrics.js';
import { ensureInstallationId } from '../../src/safety/installation-sql.js';
import { systemClock } from '../../src/shared/clock.js';
import { silentLogger } from '../../src/shared/logger.js';
import { createAnyTestDatabase, type AnyTestDatabase, type DbKind } from '../helpers/databases.js';
import { jobSpec } from '../helpers/job-spec.js';
import { isAlive, waitFor } from '../helpers/procs.js';
import { testSecretBox } from '../helpers/secret-box.js';

/** A worker process that idles until it is killed. */
export const IDLE_WORKER = [process.execPath, '-e', 'setInterval(() => {}, 1000)'];

export const MAX_WORKERS = 4;

export interface OutboxRow {
  seq: number;
  event_type: string;
  aggregate_id: string;
  payload: Record<string, unknown>;
}

export interface SafetyHarness {
  t: AnyTestDatabase;
  db: Db;
  installationId: string;
  provider: Provider;
  monitor: WorkerMonitor;
  engine: SagaEngine;
  sagaDeps: SagaDeps;
  metrics: Metrics;
  /** Starts a real worker process for `workerId` (under the reaper); returns its external id. */
  startProcess(workerId: string): Promise<string>;
  /** A job in state RUNNING at `attempt` on `workerId`. */
  runningJob(
    workerId: string,
    options?: { attempt?: number; maxAttempts?: number },
  ): Promise<string>;
  /** A worker row in `state`; `ageSeconds` backdates created_at and last_heartbeat_at. */
  workerRow(fields: {
    state: 'CREATING' | 'READY' | 'BUSY' | 'TERMINATED';
    externalId?: string;
    currentJobId?: string;
    silentSeconds?: number;
    ageSeconds?: number;
    id?: string;
  }): Promise<string>;
  /** Outbox rows written after `afterSeq`, oldest first. */
  outbox(afterSeq?: number): Promise<OutboxRow[]>;
  /** The WorkerLost rows not delivered yet, to the saga processor; returns how many. */
  deliverWorkerLost(): Promise<number>;
  /** Every process this test started is gone, and the database dropped. */
  close(): Promise<void>;
}

export async function safetyHarness(kind: DbKind): Promise<SafetyHarness> {
  const t = await createAnyTestDatabase(kind);
  const db = t.db;
  const logger = silentLogger();
  const installationId = await ensureInstallationId(db);
  const outbox = createOutboxWriter({ subjectPrefix: 'hodei.events' });
  const provider = createProcessProvider({
    command: IDLE_WORKER,
    logger,
    maxWorkers: MAX_WORKERS,
    installationId,
  });
  const monitor = createWorkerMonitor({
    db,
    outbox,
    provider,
    liveness: createWorkerLiveness(systemClock),
    logger,
    heartbeatIntervalMs: 3_600_000,
    missedHeartbeats: 3,
    idleTtlMs: 3_600_000,
  });
  const sagaDeps: SagaDeps = {
    secretBox: testSecretBox(),
    db,
    outbox,
    provider,
    sessions: createWorkerSessions(),
    logger,
    serverUrl: () => 'http://127.0.0.1:1',
    settings: {
      maxWorkers: MAX_WORKERS,
      provisioningTimeoutMs: 30_000,
      dispatchAckTimeoutMs: 10_000,
      workerWaitMs: 5_000,
    },
  };
  const engine = createSagaEngine({
    db,
    outbox,
    logger,
    clock: systemClock,
    definitions: [recoverySaga(sagaDeps), provisioningSaga(sagaDeps)],
  });
  const processor = createSagaProcessor({
    engine,
    sessions: sagaDeps.sessions,
    jobWatch: createJobWatch(),
  });
  const started: string[] = [];
  let delivered = 0;

  const harness: SafetyHarness = {
    t,
    db,
    installationId,
    provider,
    monitor,
    engine,
    sagaDeps,
    metrics: createMetrics(),
    async startProcess(workerId) {
      const { externalId } = await provider.create({
        workerId,
        otp: randomUUID(),
        serverUrl: 'http://127.0.0.1:1',
        correlationId: randomUUID(),
      });
      started.push(externalId);
      return externalId;
    },
    async runningJob(workerId, options = {}) {
      const id = randomUUID();
      await runStatement(
        db,
        insertJobStatement({
          id,
          spec: jobSpec({ maxAttempts: options.maxAttempts ?? 3 }),
          idempotencyKey: null,
          correlationId: `corr-${id}`,
        }),
      );
      await db.query(
        `UPDATE jobs SET state = 'RUNNING', attempt = $2, worker_id = $3,
           assigned_at = now() - interval '1 hour', started_at = now() - interval '1 hour'
         WHERE id = $1`,
        [id, options.attempt ?? 1, workerId],
      );
      return id;
    },
    async workerRow(fields) {
      const id = fields.id ?? randomUUID();
      await insertWorker(db, {
        id,
        provider: provider.name,
        otpHash: '!',
        correlationId: `w-${id}`,
      });
      await db.query(
        `UPDATE workers SET state = $2, external_id = $3, current_job_id = $4,
           created_at = now() - make_interval(secs => $5),
           last_heartbeat_at = CASE WHEN $2 = 'CREATING' THEN NULL
                                    ELSE now() - make_interval(secs => $6) END,
           ready_since = CASE WHEN $2 = 'READY' THEN now() ELSE NULL END,
           terminated_at = CASE WHEN $2 = 'TERMINATED' THEN now() - make_interval(secs => $6) END
         WHERE id = $1`,
        [
          id,
          fields.state,
          fields.externalId ?? '',
          fields.currentJobId ?? null,
          fields.ageSeconds ?? 0,
          fields.silentSeconds ?? 0,
        ],
      );
      return id;
    },
    async outbox(afterSeq = 0) {
      const result = await db.query<OutboxRow>(
        `SELECT seq::int AS seq, event_type, aggregate_id, payload FROM outbox_events
         WHERE seq > $1 ORDER BY seq`,
        [afterSeq],
      );
      return result.rows;
    },
    async deliverWorkerLost() {
      const result = await db.query<{
        seq: number;
        event_id: string;
        event_type: string;
        correlation_id: string;
        payload: Record<string, unknown>;
      }>(
        `SELECT seq::int AS seq, event_id, event_type, correlation_id, payload FROM outbox_events
         WHERE seq > $1 AND event_type = 'WorkerLost' ORDER BY seq`,
        [delivered],
      );
      for (const row of result.rows) {
        if (!isEventType(row.event_type)) continue;
        await processor({
          eventId: row.event_id,
          type: row.event_type,
          correlationId: row.correlation_id,
          payload: row.payload,
        });
        delivered = row.seq;
      }
      return result.rows.length;
    },
    async close() {
      await engine.stop();
      for (const id of started) await provider.destroy(id);
      await provider.close();
      await t.drop();
    },
  };
  return harness;
}

/** A worker process a server left behind when it died: its parent is not the server pid it
 * was started with (a shell started it in the background and exited). Returns its pid. */
export async function orphanedWorkerProcess(
  workerId: string,
  installationId: string,
): Promise<number> {
  const shell = spawn('sh', ['-c', 'setsid sleep 600 </dev/null >/dev/null 2>&1 & echo $!'], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HODEI_WORKER_ID: workerId,
      HODEI_INSTALLATION_ID: installationId,
      HODEI_SERVER_PID: '999999999',
    },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let out = '';
  shell.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  // 'close', not 'exit': the shell can be seen to exit before its output is read.
  await new Promise((resolve) => shell.once('close', resolve));
  const pid = Number(out.trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`the shell printed no pid: "${out}"`);
  await waitFor('the orphan to run', () => (isAlive(pid) ? true : undefined));
  return pid;
}

/** Waits until `pid` is gone (not even a zombie of ours). */
export async function gone(pid: number | string): Promise<void> {
  await waitFor(`process ${pid} to end`, () => (!isAlive(Number(pid)) ? true : undefined), 10_000);
}

/** Kills `pid` (and its group) hard, as a crash would, without telling anybody. */
export function killHard(pid: number | string): void {
  for (const target of [-Number(pid), Number(pid)]) {
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}
