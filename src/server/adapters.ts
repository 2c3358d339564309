// Adapter choice, in one place: HODEI_DATABASE_URL set → PostgreSQL, otherwise embedded PGlite;
// HODEI_NATS_URL set → JetStream, otherwise the bus on PostgreSQL tables.
import type { ServerConfig } from '../config/config.js';
import type { Db } from '../db/db.js';
import type { Bus } from '../bus/bus.js';
import type { Logger } from '../shared/logger.js';

export async function openDatabase(config: ServerConfig, logger: Logger): Promise<Db> {
  if (config.databaseUrl) {
    const { createPgDb } = await import('../db/pg/pg-db.js');
    return createPgDb({
      connectionString: config.databaseUrl,
      logger,
      maxConnections: 20,
      prepare: config.databasePrepare,
    });
  }
  const { createPgliteDb } = await import('../db/pglite/pglite-db.js');
  return createPgliteDb({ dataDir: config.dataDir, logger });
}

export async function openBus(config: ServerConfig, db: Db, logger: Logger): Promise<Bus> {
  if (config.natsUrl) {
    const { createJetStreamBus } = await import('../bus/jetstream/jetstream-bus.js');
    return createJetStreamBus({
      url: config.natsUrl,
      streamName: config.streamName,
      subjectPrefix: config.subjectPrefix,
      limits: { maxAgeMs: config.streamMaxAgeMs, maxBytes: config.streamMaxBytes },
      logger,
    });
  }
  const { createPostgresBus } = await import('../bus/postgres/postgres-bus.js');
  return createPostgresBus({ db, logger });
}
