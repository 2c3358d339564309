// Workers are SIGKILLed in the middle of a job (their agent process); the job must run again
// on another worker, once, and nothing of the dead worker may be left. Two variants: with free
// capacity (4 jobs at a time on 4 worker slots, so MTTR is the recovery itself) and with a
// backlog (every slot busy, dozens of jobs waiting, so MTTR includes the wait for a slot).
import { signal } from '../checks.js';
import type { Scenario, ScenarioHandle } from '../harness.js';
import { busyWorker } from './busy-worker.js';

async function killOne(h: ScenarioHandle, hit: Set<string>, label: string): Promise<void> {
  const victim = await busyWorker(h, hit, 1300);
  if (!victim) {
    h.note(`${label}: no worker in the middle of a job`);
    return;
  }
  hit.add(victim.jobId);
  signal(victim.agentPid, 'SIGKILL');
  h.workerDied(victim.jobId, Date.now());
}

export function workerKill(rounds = 10): Scenario {
  return {
    name: 'worker-kill',
    what: `${rounds} rounds of 4 jobs of 2 s (one per worker slot, nothing else waiting); in each round one worker in the middle of its job has its agent process SIGKILLed.`,
    async body(h) {
      const hit = new Set<string>();
      for (let i = 0; i < rounds; i++) {
        await h.queue(4, 2);
        await killOne(h, hit, `round ${i + 1}`);
        await h.waitForJobs(60_000);
      }
    },
  };
}

export function workerKillBacklog(jobs = 60, kills = 10): Scenario {
  return {
    name: 'worker-kill-backlog',
    what: `${jobs} jobs of 2 s queued at once (4 run, the rest wait); ${kills} times, ~2.5 s apart, a worker in the middle of a job has its agent process SIGKILLed (never the same job twice).`,
    async body(h) {
      await h.queue(jobs, 2);
      const hit = new Set<string>();
      for (let i = 0; i < kills; i++) {
        await h.sleep(2500);
        await killOne(h, hit, `kill ${i + 1}`);
      }
    },
  };
}
