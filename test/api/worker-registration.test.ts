// Worker registration against a real control plane (in this process, on PostgreSQL): every
// refusal — an unknown worker, a wrong, spent or expired one-time password, a worker that is no
// longer CREATING — is one UNAUTHENTICATED error with one message, while the server logs the
// specific reason; a valid password registers once; and the provisioning saga gives a new worker
// a password that expires after HODEI_WORKER_OTP_TTL. Guessing is slow and short: every refusal
// waits HODEI_WORKER_REFUSAL_DELAY, a worker refused HODEI_WORKER_REGISTER_ATTEMPTS times is
// terminated, and a session token opens one stream for its worker, once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Code, ConnectError, createClient, type Client } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { waitFor } from '../helpers/procs.js';
import type { TestDatabase } from '../helpers/db.js';
import { handDrivenWorker, startInProcessServer } from '../helpers/in-process-server.js';
import { createAgentConnection } from '../../src/agent/agent-connection.js';
import type { RunningServer } from '../../src/server/running-server.js';
import { JobService } from '../../src/gen/hodei/v1/job_pb.js';
import { WorkerAgentService } from '../../src/gen/hodei/v1/worker_pb.js';
import { insertWorker, terminateWorker } from '../../src/workers/worker-sql.js';
import { setWorkerOtp } from '../../src/workers/worker-otp-sql.js';
import { hashOtp, newOtp } from '../../src/workers/otp.js';
import { RegistrationRefusedError } from '../../src/shared/errors.js';
import { newId } from '../../src/shared/ids.js';

const REFUSAL_DELAY_MS = 300;

let t: TestDatabase;
let server: RunningServer;
let agents: Client<typeof WorkerAgentService>;
let logLines: string[];
let stopServer: () => Promise<void>;

beforeAll(async () => {
  const started = await startInProcessServer({
    bus: 'tables', // nothing to clean up in NATS
    env: {
      HODEI_WORKER_OTP_TTL: '45s',
      HODEI_WORKER_REFUSAL_DELAY: `${REFUSAL_DELAY_MS}ms`,
      HODEI_WORKER_REGISTER_ATTEMPTS: '3',
    },
    // Room for the hand-made CREATING rows below and one provisioned worker; the worker command
    // exits at once, so provisioning runs its steps and nothing registers.
    overrides: { maxWorkers: 50 },
  });
  ({ t, server, logLines } = started);
  stopServer = started.stop;
  agents = createClient(WorkerAgentService, createGrpcTransport({ baseUrl: server.url }));
});
afterAll(async () => {
  await stopServer?.();
});

/** A CREATING worker row with a password valid for `ttlMs` (negative: expired already). */
async function creatingWorker(ttlMs = 60_000): Promise<{ workerId: string; otp: string }> {
  const workerId = newId();
  const otp = newOtp();
  await insertWorker(t.db, { id: workerId, provider: 'process', otpHash: '!', correlationId: 'r' });
  expect(await setWorkerOtp(t.db, workerId, hashOtp(otp), ttlMs)).toBe(true);
  return { workerId, otp };
}

/** The error a registration got; fails the test when it succeeded. */
async function refusal(workerId: string, otp: string): Promise<ConnectError> {
  const error = await agents.register({ workerId, otp }).then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  if (!error) throw new Error(`registration of ${workerId} was accepted`);
  return error;
}

/** The reason the server logged for refusing this worker. */
function loggedReason(workerId: string): string | undefined {
  const line = logLines.find(
    (l) => l.includes(workerId) && l.includes('worker registration refused'),
  );
  return line ? (JSON.parse(line) as { reason?: string }).reason : undefined;
}

function expectTheOneRefusal(error: ConnectError): void {
  expect(error.code).toBe(Code.Unauthenticated);
  expect(error.rawMessage).toBe(RegistrationRefusedError.MESSAGE);
}

describe('worker registration', () => {
  it('an unknown worker and a wrong password get the same error; the log says which', async () => {
    const unknown = newId();
    const { workerId } = await creatingWorker();
    const a = await refusal(unknown, newOtp());
    const b = await refusal(workerId, newOtp());
    expectTheOneRefusal(a);
    expectTheOneRefusal(b);
    expect(a.message).toBe(b.message);
    expect(loggedReason(unknown)).toBe('unknown worker');
    expect(loggedReason(workerId)).toBe('wrong one-time password');
  });

  it('a valid password registers once; the spent one is refused the same way', async () => {
    const { workerId, otp } = await creatingWorker();
    const first = await agents.register({ workerId, otp });
    expect(first.sessionToken).not.toBe('');
    expectTheOneRefusal(await refusal(workerId, otp));
    expect(loggedReason(workerId)).toBe('one-time password already used');
  });

  it('an expired password is refused the same way', async () => {
    const { workerId, otp } = await creatingWorker(-1000);
    expectTheOneRefusal(await refusal(workerId, otp));
    expect(loggedReason(workerId)).toBe('one-time password expired');
    const row = await t.db.query<{ otp_used: boolean }>(
      'SELECT otp_used FROM workers WHERE id = $1',
      [workerId],
    );
    expect(row.rows[0]?.otp_used).toBe(false);
  });

  it('a worker that is no longer CREATING is refused the same way', async () => {
    const { workerId, otp } = await creatingWorker();
    await terminateWorker(t.db, workerId, 'test');
    expectTheOneRefusal(await refusal(workerId, otp));
    expect(loggedReason(workerId)).toBe('worker is TERMINATED, not CREATING');
  });

  it('an empty password is one more wrong password; a malformed worker id is INVALID_ARGUMENT', async () => {
    const { workerId } = await creatingWorker();
    expectTheOneRefusal(await refusal(workerId, ''));
    const malformed = await refusal('not-a-uuid', 'x');
    expect(malformed.code).toBe(Code.InvalidArgument);
    expect(malformed.rawMessage).toMatch(/^worker_id:/);
  });

  it('provisioning gives a new worker a password that expires after HODEI_WORKER_OTP_TTL', async () => {
    const jobs = createClient(JobService, createGrpcTransport({ baseUrl: server.url }));
    const correlationId = `otp-ttl-${newId()}`;
    await jobs.queueJob({ spec: { command: 'true' }, correlationId });
    const row = await waitFor('a provisioned worker with a password', async () => {
      const result = await t.db.query<{ ttl_ms: number }>(
        `SELECT extract(epoch FROM otp_expires_at - now()) * 1000 AS ttl_ms FROM workers
         WHERE correlation_id = $1 AND otp_expires_at IS NOT NULL`,
        [correlationId],
      );
      return result.rows[0];
    });
    expect(Number(row.ttl_ms)).toBeGreaterThan(40_000);
    expect(Number(row.ttl_ms)).toBeLessThanOrEqual(45_000);
  });

  it('every refusal is answered after the same delay', async () => {
    const { workerId } = await creatingWorker();
    for (const id of [newId(), workerId]) {
      const started = performance.now();
      expectTheOneRefusal(await refusal(id, newOtp()));
      // A lower bound, not a speed check: the answer never comes before the delay.
      expect(performance.now() - started).toBeGreaterThanOrEqual(REFUSAL_DELAY_MS - 5);
    }
  });

  it('a worker refused three times is terminated, and its right password no longer registers it', async () => {
    const { workerId, otp } = await creatingWorker();
    const state = async () =>
      (
        await t.db.query<{ state: string; termination_reason: string | null }>(
          'SELECT state, termination_reason FROM workers WHERE id = $1',
          [workerId],
        )
      ).rows[0];
    expectTheOneRefusal(await refusal(workerId, newOtp()));
    expectTheOneRefusal(await refusal(workerId, newOtp()));
    expect((await state())?.state).toBe('CREATING');
    expectTheOneRefusal(await refusal(workerId, newOtp()));
    expect(await state()).toEqual({
      state: 'TERMINATED',
      termination_reason: '3 refused registrations',
    });
    const lost = await t.db.query(
      "SELECT 1 FROM outbox_events WHERE event_type = 'WorkerLost' AND aggregate_id = $1",
      [workerId],
    );
    expect(lost.rowCount).toBe(1);
    expectTheOneRefusal(await refusal(workerId, otp));
    expect(loggedReason(workerId)).toBe('wrong one-time password');
  });

  it('a session token opens one stream, once; a second Connect with it is refused', async () => {
    const worker = await handDrivenWorker(t.db, server.url);
    const second = createAgentConnection(server.url);
    try {
      // READY, or BUSY with the job an earlier test queued: its stream is open either way.
      await waitFor('the worker to be READY', async () => {
        const row = await t.db.query<{ state: string }>('SELECT state FROM workers WHERE id = $1', [
          worker.workerId,
        ]);
        return ['READY', 'BUSY'].includes(row.rows[0]?.state ?? '') || undefined;
      });
      const error = await (async () => {
        for await (const message of second.open(worker.sessionToken)) void message;
      })().then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      expect(error?.code).toBe(Code.Unauthenticated);
      expect(error?.rawMessage).toMatch(/already used/);
      const row = await t.db.query<{ state: string }>('SELECT state FROM workers WHERE id = $1', [
        worker.workerId,
      ]);
      expect(['READY', 'BUSY']).toContain(row.rows[0]?.state); // the first stream lives on
    } finally {
      second.close();
      worker.connection.close();
    }
  });
});
