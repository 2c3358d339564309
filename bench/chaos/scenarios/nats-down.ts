// NATS is stopped for 10 s in the middle of a run (the harness's own nats-server, started again
// on the same store), while jobs go on being queued; /readyz is sampled during the outage.
import type { Scenario } from '../harness.js';

export function natsDown(jobs = 200, downMs = 10_000): Scenario {
  return {
    name: 'nats-down',
    what: `${jobs} jobs of 0.3 s queued in batches of 20 every second; after 3 s the nats-server is stopped for ${downMs / 1000} s and started again on the same store.`,
    async body(h) {
      const queuer = (async () => {
        for (let i = 0; i < jobs; i += 20) {
          await h.queue(Math.min(20, jobs - i), 0.3);
          await h.sleep(1000);
        }
      })();
      await h.sleep(3000);
      await h.ctx.stopNats();
      const readiness: number[] = [];
      const until = Date.now() + downMs;
      while (Date.now() < until) {
        await h.sleep(1000);
        readiness.push(
          await fetch(`${h.server.url}/readyz`).then(
            (r) => r.status,
            () => 0,
          ),
        );
      }
      await h.ctx.startNats();
      h.note(`/readyz during the outage: ${readiness.join(', ')}`);
      await queuer;
    },
  };
}
