// One round of a singleton loop (DESIGN §12): with several servers on one database, only the one
// that takes the loop's advisory lock runs the round; the others skip it (they try again next
// interval). The lock is a transaction-level one (pg_try_advisory_xact_lock) held by a
// transaction that stays open for the round: it is released at commit, and at once if the server
// dies, so no lock outlives its holder. The round's own statements run on other connections, so
// this transaction holds the lock and nothing else. PGlite is one connection that one process
// owns (its data directory is locked, db/pglite/data-dir-lock.ts): there is no other server to
// exclude, and a transaction there would hold up every other query, the round's own included, so
// on PGlite the round simply runs (each loop runs one round at a time itself, safety-loop.ts).
import type { Db, Queryable } from '../db/db.js';

/** Advisory lock keys of the singleton loops (7160042001/2: migrations, worker capacity). */
export const SINGLETON_LOCKS = {
  reaper: 7_160_042_003,
  reconciler: 7_160_042_004,
  retention: 7_160_042_005,
} as const;

/** Takes the advisory lock `key` until the transaction ends; returns false if another holds it. */
export async function tryAdvisoryXactLock(q: Queryable, key: number): Promise<boolean> {
  // No parameters: a parameterised query (extended protocol) left the transaction holding a
  // snapshot while idle, which kept VACUUM from reclaiming anything deleted during the round
  // (retention's own deletes included). The key is one of SINGLETON_LOCKS, a number.
  if (!Number.isSafeInteger(key)) throw new Error(`advisory lock key ${key} is not an integer`);
  const result = await q.query<{ locked: boolean }>(
    `SELECT pg_try_advisory_xact_lock(${key}) AS locked`,
  );
  return result.rows[0]?.locked === true;
}

/** Runs `round` unless another holder has the lock `key`: `{ ran: false }` then. */
export async function runSingletonRound<T>(
  db: Db,
  key: number,
  round: () => Promise<T>,
): Promise<{ ran: true; value: T } | { ran: false }> {
  if (db.kind === 'pglite') return { ran: true, value: await round() };
  return db.transaction(async (tx) => {
    if (!(await tryAdvisoryXactLock(tx, key))) return { ran: false as const };
    return { ran: true as const, value: await round() };
  });
}
