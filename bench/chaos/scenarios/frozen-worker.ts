// Workers are frozen (SIGSTOP of the agent) in the middle of a job; the kill-switch must take
// them for lost and the job must run again elsewhere. A frozen worker still there 8 s later gets
// SIGCONT (it must not record anything for a job it lost).
import { signal, workerProcesses } from '../checks.js';
import type { Scenario } from '../harness.js';
import { busyWorker } from './busy-worker.js';

export function frozenWorker(jobs = 40, freezes = 5): Scenario {
  return {
    name: 'frozen-worker',
    what: `${jobs} jobs of 2 s; ${freezes} times (every ~4 s), a worker in the middle of a job has its agent frozen with SIGSTOP; one still alive 8 s later gets SIGCONT.`,
    async body(h) {
      await h.queue(jobs, 2);
      const hit = new Set<string>();
      const frozen: Array<{ pid: number; at: number }> = [];
      const thaw = () => {
        for (const f of frozen.filter((x) => Date.now() - x.at > 8000)) {
          if (workerProcesses().some((p) => p.pid === f.pid)) {
            signal(f.pid, 'SIGCONT');
            h.note(`agent ${f.pid} was still there 8 s after SIGSTOP: SIGCONT`);
          }
          frozen.splice(frozen.indexOf(f), 1);
        }
      };
      for (let i = 0; i < freezes; i++) {
        await h.sleep(4000);
        thaw();
        const victim = await busyWorker(h, hit, 1300);
        if (!victim) {
          h.note(`freeze ${i + 1}: no worker in the middle of a job`);
          continue;
        }
        hit.add(victim.jobId);
        signal(victim.agentPid, 'SIGSTOP');
        h.workerDied(victim.jobId, Date.now());
        frozen.push({ pid: victim.agentPid, at: Date.now() });
      }
      await h.sleep(8500);
      thaw();
    },
  };
}
