// Chaos in small: every event the server publishes is stored on the stream twice (an outside
// subscriber publishes each again under another Nats-Msg-Id). Every job still runs once and is
// recorded once.
import { afterAll, describe, expect, it } from 'vitest';
import { startChaosTestRun, type ChaosTestRun } from './chaos-test-run.js';
import { startRepublisher, type Republisher } from '../../bench/chaos/republisher.js';
import { NATS_URL } from '../helpers/env.js';

describe('chaos: every bus event delivered twice', () => {
  let run: ChaosTestRun | undefined;
  let republisher: Republisher | undefined;
  afterAll(async () => {
    await republisher?.stop();
    await run?.cleanup();
  });

  it('20 jobs with every event duplicated: each runs once, recorded once', async () => {
    run = await startChaosTestRun();
    republisher = await startRepublisher(NATS_URL, run.server.subjectPrefix);
    await run.queue(20, 0.1);
    const figures = await run.expectInvariants();
    expect(republisher.copies()).toBeGreaterThan(20);
    expect(figures.reExecuted).toBe(0);
  }, 90_000);
});
