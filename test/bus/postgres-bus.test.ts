import { createPostgresBus } from '../../src/bus/postgres/postgres-bus.js';
import { createTestDatabase } from '../helpers/db.js';
import { busContract } from './bus-contract.js';

busContract('postgres tables on PostgreSQL', async () => {
  const t = await createTestDatabase();
  const bus = createPostgresBus({ db: t.db });
  return {
    bus,
    prefix: 'hodei.events',
    async cleanup() {
      await bus.close();
      await t.drop();
    },
  };
});
