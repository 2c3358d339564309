// The bus contract on the PostgreSQL-table bus over embedded PGlite (in memory, migrated here):
// the single-connection case, where a publish inside a transaction must use only that `tx`.
import { createPostgresBus } from '../../src/bus/postgres/postgres-bus.js';
import { createPgliteDb } from '../../src/db/pglite/pglite-db.js';
import { migrate } from '../../src/db/migrate.js';
import { busContract } from './bus-contract.js';

busContract(
  'postgres tables on embedded PGlite',
  async () => {
    const db = await createPgliteDb({});
    await migrate(db);
    const bus = createPostgresBus({ db });
    return {
      bus,
      prefix: 'hodei.events',
      txDb: db,
      async cleanup() {
        await bus.close();
        await db.close();
      },
    };
  },
  { transactionalPublish: true, leavesOutIgnoredSubjects: true },
);
