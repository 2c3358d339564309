// Runs the Db contract against the PostgreSQL adapter, on a fresh database copied from the
// migrated template.
import { createTestDatabase } from '../helpers/db.js';
import { describeDbContract } from './db-contract.js';

describeDbContract('pg', async () => {
  const database = await createTestDatabase();
  return { db: database.db, cleanup: () => database.drop() };
});
