// End to end, with real server and worker processes: the server is SIGKILLed while all of its
// worker slots are held by CREATING workers that will never register, then started again on the
// same database. The DatabaseReaper's round at start terminates and destroys them (their server
// is gone), so the first job queued after the restart gets a new worker at once: it must start
// within 5 s (before this reaper it waited for the 30 s registration deadline: 18 s in the
// issue's trial). Every job queued before the crash ends SUCCEEDED too.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { afterAll, describe, expect, it } from 'vitest';
import { JobState } from '../../src/gen/hodei/v1/job_pb.js';
import { WorkerState } from '../../src/gen/hodei/v1/worker_pb.js';
import { HODEI_BIN, startTestServer, type Deployment, type TestServer } from '../helpers/server.js';
import { isAlive, waitFor } from '../helpers/procs.js';

const SLOTS = 4;
const STUCK_WORKER = path.join(import.meta.dirname, 'fixtures/stuck-worker.sh');

for (const deployment of ['embedded', 'postgres+nats'] as Deployment[]) {
  describe(`server restart with CREATING workers (${deployment})`, () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'hodei-restart-'));
    const hold = path.join(dir, 'hold');
    let server: TestServer | undefined;
    afterAll(async () => {
      await server?.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    it('SIGKILL while every slot is CREATING; after the restart the first new job starts within 5 s', async () => {
      server = await startTestServer({
        deployment,
        env: {
          HODEI_MAX_WORKERS: String(SLOTS),
          HODEI_WORKER_COMMAND: [
            'sh',
            STUCK_WORKER,
            hold,
            process.execPath,
            HODEI_BIN,
            'worker',
          ].join(' '),
        },
      });
      const s = server;
      writeFileSync(hold, '');
      const before = await Promise.all(
        Array.from({ length: SLOTS }, () => s.jobs.queueJob({ spec: { command: 'true' } })),
      );
      const stuck = await waitFor('every slot to hold a CREATING worker', async () => {
        const { workers } = await s.ops.listWorkers({});
        const creating = workers.filter((w) => w.state === WorkerState.CREATING && w.externalId);
        return creating.length === SLOTS ? creating.map((w) => Number(w.externalId)) : undefined;
      });

      await s.kill();
      rmSync(hold);
      expect(existsSync(hold)).toBe(false);
      // The stuck workers outlive their server, as they would after a real crash.
      expect(stuck.every(isAlive)).toBe(true);

      const restartAt = Date.now();
      await s.restart();
      const listeningAt = Date.now();
      const queuedAt = Date.now();
      const { job } = await s.jobs.queueJob({ spec: { command: 'true' } });
      const started = await waitFor(
        'the new job to start',
        async () => {
          const got = (await s.jobs.getJob({ id: job?.id ?? '' })).job;
          return got?.startedAt ? timestampDate(got.startedAt).getTime() : undefined;
        },
        30_000,
        20,
      );
      const firstJobMs = started - queuedAt;
      process.stdout.write(
        `[server-restart ${deployment}] restart ${listeningAt - restartAt} ms, ` +
          `first new job started ${firstJobMs} ms after it was queued ` +
          `(${started - restartAt} ms after the restart began)\n`,
      );
      expect(firstJobMs).toBeLessThan(5_000);

      // The stuck workers of the dead server were destroyed, their rows terminated.
      await waitFor('the stuck workers to be destroyed', () =>
        stuck.every((pid) => !isAlive(pid)) ? true : undefined,
      );
      const { workers } = await s.ops.listWorkers({});
      for (const pid of stuck) {
        expect(workers.find((w) => Number(w.externalId) === pid)?.state).toBe(
          WorkerState.TERMINATED,
        );
      }
      // And the jobs queued before the crash run too.
      const ids = [...before.map((q) => q.job?.id ?? ''), job?.id ?? ''];
      await waitFor(
        'every job to succeed',
        async () => {
          const states = await Promise.all(
            ids.map(async (id) => (await s.jobs.getJob({ id })).job?.state),
          );
          return states.every((st) => st === JobState.SUCCEEDED) ? true : undefined;
        },
        60_000,
        200,
      );
      const starts = await Promise.all(
        ids.map(async (id) => {
          const got = (await s.jobs.getJob({ id })).job;
          return got?.startedAt ? timestampDate(got.startedAt).getTime() : Infinity;
        }),
      );
      process.stdout.write(
        `[server-restart ${deployment}] first job of any started ${Math.min(...starts) - listeningAt} ms ` +
          `after the restarted server listened; all ${ids.length} started within ` +
          `${Math.max(...starts) - listeningAt} ms\n`,
      );
    }, 120_000);
  });
}
