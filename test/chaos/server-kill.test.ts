// Chaos in small: the server is SIGKILLed three times while 30 jobs are queued and run, and
// started again each time on the same database and port. Every job ends SUCCEEDED once, no job
// ever runs on two workers at once, and nothing of the dead servers' workers is left.
import { afterAll, describe, it } from 'vitest';
import { startChaosTestRun, type ChaosTestRun } from './chaos-test-run.js';

describe('chaos: server SIGKILL during jobs', () => {
  let run: ChaosTestRun | undefined;
  afterAll(async () => {
    await run?.cleanup();
  });

  it('3 SIGKILLs during 30 jobs: none lost, none twice, none overlapping, no zombie', async () => {
    run = await startChaosTestRun();
    const r = run;
    const queuing = (async () => {
      for (let i = 0; i < 3; i++) {
        await r.queue(10, 0.3);
        await new Promise((resolve) => setTimeout(resolve, 400));
      }
    })();
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 700 + Math.random() * 800));
      await r.server.kill();
      await r.server.restart();
    }
    await queuing;
    await r.expectInvariants();
  }, 90_000);
});
