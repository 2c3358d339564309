// What /readyz answers: whether the server can take work now. It cannot while the database does
// not answer a trivial query within a second, or while the bus does not (each says why), and it
// can again as soon as they answer: nothing here is remembered between calls.
import type { Db } from '../db/db.js';
import type { Bus } from '../bus/bus.js';
import { errorMessage } from '../shared/errors.js';

const DB_TIMEOUT_MS = 1000;

async function databaseProblem(db: Db): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const answered = await Promise.race([
      db.query('SELECT 1').then(() => true),
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), DB_TIMEOUT_MS);
      }),
    ]);
    return answered ? undefined : `the database does not answer within ${DB_TIMEOUT_MS} ms`;
  } catch (error) {
    return `the database is unreachable (${errorMessage(error)})`;
  } finally {
    clearTimeout(timer);
  }
}

/** The reasons the server is not ready; empty when it is. */
export async function unreadyReasons(db: Db, bus: Bus): Promise<string[]> {
  const [database, busProblem] = await Promise.all([
    databaseProblem(db),
    bus.checkReady().catch((error: unknown) => errorMessage(error)),
  ]);
  return [
    ...(database ? [`database: ${database}`] : []),
    ...(busProblem ? [`bus: ${busProblem}`] : []),
  ];
}
