// The server is SIGKILLed 50 times at random points while 500 jobs are queued and run, and
// started again at once on the same database and port each time.
import type { Scenario, ScenarioHandle } from '../harness.js';

async function restart(h: ScenarioHandle): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      return await h.server.start();
    } catch (err) {
      if (i >= 2) throw err;
      h.note(`a restart failed: ${String(err).slice(0, 200)}`);
    }
  }
}

export function serverKill(jobs = 500, kills = 50): Scenario {
  return {
    name: 'server-kill',
    what: `${jobs} jobs of 1 s queued in batches of 10 every 1.5 s while the server is SIGKILLed ${kills} times, 1–5 s apart (random), each time started again at once on the same database and port.`,
    async body(h) {
      let queuing = true;
      const queuer = (async () => {
        for (let i = 0; i < jobs; i += 10) {
          await h.queue(Math.min(10, jobs - i), 1);
          await h.sleep(1500);
        }
        queuing = false;
      })();
      let done = 0;
      for (; done < kills; done++) {
        await h.sleep(1000 + Math.random() * 4000);
        const { rows } = await h.db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM jobs WHERE state IN ('PENDING')`,
        );
        const waiting = (rows[0]?.n ?? 0) > 0;
        if (!waiting && !queuing) break;
        await h.server.kill();
        const at = Date.now();
        await restart(h);
        h.serverRestarted(at, waiting);
      }
      await queuer;
      if (done < kills) h.note(`only ${done} kills: every job had run before the ${kills}th`);
      else h.note(`${done} kills`);
    },
  };
}
