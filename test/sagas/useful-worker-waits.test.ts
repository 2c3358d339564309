// How many sagas waiting for a worker a passed deadline may wake (decision 0023): one per READY
// worker plus one per worker the cap still allows, counted by the database the sweep asks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DB_KINDS, createAnyTestDatabase, type AnyTestDatabase } from '../helpers/databases.js';
import { usefulWorkerWaits } from '../../src/workers/worker-sql.js';
import { countNow } from '../../src/sagas/saga-sql.js';
import { newId } from '../../src/shared/ids.js';
import { readyWorker } from './dispatch-harness.js';

let t: AnyTestDatabase;

async function worker(state: 'CREATING' | 'BUSY' | 'TERMINATED'): Promise<void> {
  await t.db.query(
    `INSERT INTO workers (id, provider, state, otp_hash, correlation_id) VALUES ($1, 'process', $2, 'x', 'w')`,
    [newId(), state],
  );
}

for (const kind of DB_KINDS) {
  describe.sequential(`${kind}: useful worker waits`, () => {
    beforeAll(async () => {
      t = await createAnyTestDatabase(kind);
    });
    afterAll(async () => {
      await t.drop();
    });

    it('counts READY workers and the room under the cap, never below zero', async () => {
      const useful = (max: number) => countNow(t.db, usefulWorkerWaits(max));
      expect(await useful(4)).toBe(4); // no worker: room for four
      await worker('BUSY');
      await worker('CREATING');
      await worker('TERMINATED'); // does not count against the cap
      expect(await useful(4)).toBe(2);
      await worker('BUSY');
      await worker('BUSY');
      expect(await useful(4)).toBe(0); // at the cap, all busy: a deadline could serve no one
      await readyWorker(t.db);
      expect(await useful(4)).toBe(1); // over the cap counts as no room, the READY one counts
      expect(() => usefulWorkerWaits(Number.NaN)).toThrow(/not an integer/);
    });
  });
}
