// A worker's next run sent while its previous result is being recorded (the result made the
// worker READY and a saga dispatched to it at once) is the stream's current run afterwards: its
// ack and result are recorded, so the job runs once. Real PostgreSQL, real reports; the saga's
// dispatch is done in between by the same statements the ExecutionSaga uses.
import { create } from '@bufbuild/protobuf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  WorkerMessageSchema,
  RunOutcome,
  type WorkerMessage,
} from '../../src/gen/hodei/v1/worker_pb.js';
import { serveWorkerStream } from '../../src/api/worker-stream.js';
import { createWorkerSessions } from '../../src/workers/worker-sessions.js';
import { createWorkerLiveness } from '../../src/workers/worker-liveness.js';
import { createWorkerReports } from '../../src/workers/worker-reports.js';
import { createWorkerMonitor } from '../../src/workers/worker-monitor.js';
import { insertWorker } from '../../src/workers/worker-sql.js';
import { assignJobStatement, findJob, insertJobStatement } from '../../src/jobs/job-sql.js';
import { runStatement } from '../../src/db/statement.js';
import { createOutboxWriter } from '../../src/outbox/outbox-writer.js';
import { createJobWatch } from '../../src/jobs/job-watch.js';
import { createAsyncQueue } from '../../src/shared/async-queue.js';
import { systemClock } from '../../src/shared/clock.js';
import { silentLogger } from '../../src/shared/logger.js';
import { newId } from '../../src/shared/ids.js';
import type { Provider } from '../../src/providers/provider.js';
import { createAnyTestDatabase, type AnyTestDatabase } from '../helpers/databases.js';
import { jobSpec } from '../helpers/job-spec.js';
import { waitFor } from '../helpers/procs.js';

const ack = (jobId: string): WorkerMessage =>
  create(WorkerMessageSchema, { body: { case: 'ack', value: { jobId, attempt: 1 } } });
const result = (jobId: string): WorkerMessage =>
  create(WorkerMessageSchema, {
    body: { case: 'result', value: { jobId, attempt: 1, outcome: RunOutcome.EXITED, exitCode: 0 } },
  });

describe('worker stream: the next run', () => {
  let t: AnyTestDatabase;
  beforeAll(async () => {
    t = await createAnyTestDatabase('postgres');
  });
  afterAll(async () => {
    await t.drop();
  });

  it('a run dispatched while the last result is being recorded is acknowledged and recorded', async () => {
    const db = t.db;
    const logger = silentLogger();
    const outbox = createOutboxWriter({ subjectPrefix: 'hodei.events' });
    const sessions = createWorkerSessions();
    const liveness = createWorkerLiveness(systemClock);
    const reports = createWorkerReports({ db, outbox, logger, jobWatch: createJobWatch() });
    const workerId = newId();
    await insertWorker(db, { id: workerId, provider: 'process', otpHash: '!', correlationId: 'w' });
    await db.query('UPDATE workers SET otp_used = true WHERE id = $1', [workerId]);
    const [first, second] = [newId(), newId()];
    for (const id of [first, second]) {
      await runStatement(
        db,
        insertJobStatement({ id, spec: jobSpec(), idempotencyKey: null, correlationId: `c-${id}` }),
      );
    }

    /** What the ExecutionSaga does for a job: reserve the worker, assign, send the RUN. */
    async function dispatch(jobId: string): Promise<void> {
      await db.query("UPDATE workers SET state = 'BUSY', current_job_id = $2 WHERE id = $1", [
        workerId,
        jobId,
      ]);
      const [assigned] = await runStatement(db, assignJobStatement(jobId, 1, workerId));
      if (!assigned) throw new Error(`job ${jobId} was not assigned`);
      sessions.get(workerId)?.sendRun(assigned, {});
    }

    const inbox = createAsyncQueue<WorkerMessage>();
    const stream = serveWorkerStream(workerId, inbox, new AbortController().signal, {
      db,
      sessions,
      liveness,
      logger,
      maxJobOutputBytes: 1024,
      isServing: () => false,
      // Not reached: the server is not serving when this stream closes.
      monitor: createWorkerMonitor({
        db,
        outbox,
        provider: {} as Provider,
        liveness,
        logger,
        heartbeatIntervalMs: 3_600_000,
        missedHeartbeats: 3,
        idleTtlMs: 3_600_000,
      }),
      reports: {
        ...reports,
        // The first result frees the worker; the saga of the second job takes it before the
        // stream has finished handling that result.
        async recordResult(id, report) {
          await reports.recordResult(id, report);
          if (report.jobId === first) await dispatch(second);
        },
      },
    });
    const sent: string[] = [];
    const reading = (async () => {
      for await (const message of stream) {
        if (message.body.case === 'run') sent.push(message.body.value.jobId);
      }
    })();
    await waitFor('the stream to open', () => Promise.resolve(sessions.get(workerId)));
    await dispatch(first);
    for (const message of [ack(first), result(first), ack(second), result(second)]) {
      inbox.push(message);
    }
    const done = await waitFor(
      'the second job to succeed',
      async () => {
        const job = await findJob(db, second);
        return job?.state === 'SUCCEEDED' ? job : undefined;
      },
      10_000,
    );
    expect(done.attempt).toBe(1);
    expect((await findJob(db, first))?.state).toBe('SUCCEEDED');
    expect(sent).toEqual([first, second]);
    inbox.close();
    sessions.get(workerId)?.close('test over');
    await reading;
  });
});
