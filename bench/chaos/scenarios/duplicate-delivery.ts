// Every event on the bus is delivered twice (an external republisher stores a second copy of
// each under another message id); every job must still run once and be recorded once.
import { startRepublisher } from '../republisher.js';
import type { Scenario } from '../harness.js';

export function duplicateDelivery(jobs = 200): Scenario {
  return {
    name: 'duplicate-delivery',
    what: `${jobs} jobs of 0.2 s while every event published on the stream is published again by an outside subscriber under another Nats-Msg-Id (JetStream stores both, every consumer gets both).`,
    async body(h) {
      const republisher = await startRepublisher(h.ctx.natsUrl, h.subjectPrefix);
      try {
        await h.queue(jobs, 0.2);
        await h.waitForJobs(180_000);
      } finally {
        await republisher.stop();
        h.note(`${republisher.copies()} events stored twice`);
      }
    },
  };
}
