// Every backend of the server's database is terminated every 200 ms (pg_terminate_backend on
// the harness's own cluster) while jobs are being queued.
import pg from 'pg';
import type { Scenario } from '../harness.js';

export function backendsTerminated(jobs = 200): Scenario {
  return {
    name: 'backends-terminated',
    what: `${jobs} jobs of 0.2 s queued in batches of 20 every 0.5 s while every backend of the server's database is terminated every 200 ms (until the last job is queued).`,
    async body(h) {
      const killer = new pg.Client({ connectionString: h.ctx.pgAdminUrl });
      killer.on('error', () => undefined);
      await killer.connect();
      let killing = true;
      let terminated = 0;
      const loop = (async () => {
        while (killing) {
          const { rows } = await killer
            .query<{ n: number }>(
              `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n
               FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()
                 AND application_name <> 'chaos-harness'`,
              [h.databaseName],
            )
            .catch(() => ({ rows: [] }));
          terminated += rows[0]?.n ?? 0;
          await h.sleep(200);
        }
      })();
      try {
        for (let i = 0; i < jobs; i += 20) {
          await h.queue(Math.min(20, jobs - i), 0.2);
          await h.sleep(500);
        }
      } finally {
        killing = false;
        await loop;
        await killer.end();
        h.note(`${terminated} backends terminated`);
      }
    },
  };
}
