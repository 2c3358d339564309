// The bus contract on the PostgreSQL-table bus over a real PostgreSQL server (a database of its
// own, copied from the migrated template and dropped afterwards).
import { createPostgresBus } from '../../src/bus/postgres/postgres-bus.js';
import { createTestDatabase } from '../helpers/db.js';
import { busContract } from './bus-contract.js';

busContract(
  'postgres tables on PostgreSQL',
  async () => {
    const t = await createTestDatabase();
    const bus = createPostgresBus({ db: t.db });
    return {
      bus,
      prefix: 'hodei.events',
      txDb: t.db,
      async cleanup() {
        await bus.close();
        await t.drop();
      },
    };
  },
  { transactionalPublish: true, leavesOutIgnoredSubjects: true },
);
