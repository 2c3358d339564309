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
    what: `${jobs} jobs of 0.5 s queued in batches of 25 while the server is SIGKILLed ${kills} times, 0.3–2.5 s apart (random), each time started again at once on the same database and port.`,
    async body(h) {
      let queuing = true;
      const queuer = (async () => {
        for (let i = 0; i < jobs; i += 25) {
          await h.queue(Math.min(25, jobs - i), 0.5);
          await h.sleep(300);
        }
        queuing = false;
      })();
      let done = 0;
      for (; done < kills; done++) {
        await h.sleep(300 + Math.random() * 2200);
        const { rows } = await h.db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM jobs WHERE state IN ('PENDING')`,
        );
        const waiting = (rows[0]?.n ?? 0) > 0;
        if (!waiting && !queuing) break;
        await h.server.kill();
        const at = Date.now();
        await restart(h);
        if (waiting) h.serverRestarted(at);
      }
      await queuer;
      if (done < kills) h.note(`only ${done} kills: every job had run before the ${kills}th`);
      else h.note(`${done} kills`);
    },
  };
}
