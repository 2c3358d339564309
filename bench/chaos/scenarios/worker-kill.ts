// Workers are SIGKILLed in the middle of a job (their agent process); the job must run again
// on another worker, once, and nothing of the dead worker may be left.
import { signal } from '../checks.js';
import type { Scenario } from '../harness.js';
import { busyWorker } from './busy-worker.js';

export function workerKill(jobs = 60, kills = 10): Scenario {
  return {
    name: 'worker-kill',
    what: `${jobs} jobs of 2 s; ${kills} times, a worker in the middle of a job has its agent process SIGKILLed (one kill every ~2.5 s, never the same job twice).`,
    async body(h) {
      await h.queue(jobs, 2);
      const hit = new Set<string>();
      for (let i = 0; i < kills; i++) {
        await h.sleep(2500);
        const victim = await busyWorker(h, hit, 1300);
        if (!victim) {
          h.note(`kill ${i + 1}: no worker in the middle of a job`);
          continue;
        }
        hit.add(victim.jobId);
        signal(victim.agentPid, 'SIGKILL');
        h.workerDied(victim.jobId, Date.now());
      }
    },
  };
}
