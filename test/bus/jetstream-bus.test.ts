// The bus contract on NATS JetStream: a stream and subject prefix of its own, deleted afterwards.
// JetStream lives outside the database, so it lacks transactional publish; an in-memory PGlite
// only supplies the transaction the suite shows being ignored.
import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { createJetStreamBus } from '../../src/bus/jetstream/jetstream-bus.js';
import { createPgliteDb } from '../../src/db/pglite/pglite-db.js';
import { NATS_URL } from '../helpers/env.js';
import { busContract } from './bus-contract.js';

busContract(
  'jetstream',
  async () => {
    const suffix = randomBytes(4).toString('hex');
    const streamName = `TBUS_${suffix}`;
    const prefix = `tbus${suffix}`;
    const bus = createJetStreamBus({ url: NATS_URL, streamName, subjectPrefix: prefix });
    const txDb = await createPgliteDb({});
    return {
      bus,
      prefix,
      txDb,
      async cleanup() {
        await bus.close();
        await txDb.close();
        const nc = await connect({ servers: NATS_URL });
        try {
          await (await jetstreamManager(nc)).streams.delete(streamName);
        } finally {
          await nc.close();
        }
      },
    };
  },
  { transactionalPublish: false, leavesOutIgnoredSubjects: false },
);
