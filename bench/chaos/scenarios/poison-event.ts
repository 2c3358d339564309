// A poison event in the middle of 500 jobs: one job with a 1 MiB working directory (its
// JobFailed event would be over NATS's 1 MiB max_payload unbounded). It must fail alone;
// every other job must succeed.
import type { Scenario } from '../harness.js';

const MiB = 1024 * 1024;

export function poisonEvent(jobs = 500): Scenario {
  return {
    name: 'poison-event',
    what: `${jobs} jobs of 0.05 s queued in batches of 50; after half of them, one job with a 1 MiB working directory (expected to fail alone).`,
    async body(h) {
      const half = Math.floor(jobs / 2);
      for (let i = 0; i < half; i += 50) await h.queue(Math.min(50, half - i), 0.05);
      const [poison] = await h.queue(1, 0.05, { workingDir: `/tmp/${'d'.repeat(MiB - 5)}` });
      if (poison) h.expectFailure(poison);
      for (let i = half; i < jobs - 1; i += 50) await h.queue(Math.min(50, jobs - 1 - i), 0.05);
    },
  };
}
