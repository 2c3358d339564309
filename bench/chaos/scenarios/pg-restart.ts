// PostgreSQL (the harness's own cluster) is restarted in the middle of a run, twice, while
// jobs go on being queued (QueueJob retried under its idempotency key while it fails).
import type { Scenario } from '../harness.js';

export function pgRestart(jobs = 200): Scenario {
  return {
    name: 'pg-restart',
    what: `${jobs} jobs of 0.3 s queued in batches of 20 every second; PostgreSQL is restarted (pg_ctl restart -m fast) after 3 s and again after 10 s.`,
    async body(h) {
      const queuer = (async () => {
        for (let i = 0; i < jobs; i += 20) {
          await h.queue(Math.min(20, jobs - i), 0.3);
          await h.sleep(1000);
        }
      })();
      await h.sleep(3000);
      await h.ctx.restartPg();
      await h.sleep(7000);
      await h.ctx.restartPg();
      await queuer;
    },
  };
}
