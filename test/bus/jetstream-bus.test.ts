import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { createJetStreamBus } from '../../src/bus/jetstream/jetstream-bus.js';
import { NATS_URL } from '../helpers/env.js';
import { busContract } from './bus-contract.js';

busContract('jetstream', async () => {
  const suffix = randomBytes(4).toString('hex');
  const streamName = `TBUS_${suffix}`;
  const prefix = `tbus${suffix}`;
  const bus = createJetStreamBus({ url: NATS_URL, streamName, subjectPrefix: prefix });
  return {
    bus,
    prefix,
    async cleanup() {
      await bus.close();
      const nc = await connect({ servers: NATS_URL });
      await (await jetstreamManager(nc)).streams.delete(streamName).catch(() => false);
      await nc.close();
    },
  };
});
