// SQL for the installation table (migration 0006): the identity every server of one installation
// shares. The process provider writes it into each worker's environment, so the safety nets can
// tell this installation's worker processes from another's on the same machine (tests run many
// installations side by side) and destroy only their own.
import type { Queryable } from '../db/db.js';

/** Creates the installation's id unless it exists; returns the id created, or undefined. */
export async function createInstallationId(q: Queryable): Promise<string | undefined> {
  const result = await q.query<{ id: string }>(
    `INSERT INTO installation (id) VALUES (gen_random_uuid()) ON CONFLICT (singleton) DO NOTHING
     RETURNING id`,
  );
  return result.rows[0]?.id;
}

/** Returns the installation's id, or undefined before the first server started. */
export async function findInstallationId(q: Queryable): Promise<string | undefined> {
  const result = await q.query<{ id: string }>('SELECT id FROM installation');
  return result.rows[0]?.id;
}

/** The installation's id, created by whichever server asks first (two at once agree: the
 * loser of the insert reads the winner's row once it has committed). */
export async function ensureInstallationId(q: Queryable): Promise<string> {
  const id =
    (await findInstallationId(q)) ??
    (await createInstallationId(q)) ??
    (await findInstallationId(q));
  if (!id) throw new Error('the installation row is missing after its insert');
  return id;
}
