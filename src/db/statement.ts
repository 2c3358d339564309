// A parameterised SQL statement together with the reader of its rows. A statement can run on its
// own, or be embedded in a larger one: the outbox runs a state change and the insert of its events
// as one SQL statement (outbox/outbox-sql.ts), atomic without BEGIN/COMMIT round trips.
import type { Queryable } from './db.js';

export interface Statement<T> {
  /** One SQL statement using `$1…$n` for `params`; embeddable ones end in RETURNING. */
  readonly text: string;
  /** Data-modifying CTEs the statement runs with (`name AS (…), …`, no leading WITH): kept at
   * the top level when the statement is embedded, where PostgreSQL requires them. */
  readonly ctes?: string;
  readonly params: readonly unknown[];
  /** Turns one returned row into the caller's type. */
  readonly read: (row: never) => T;
}

/** An SQL condition with its own parameters, for a statement that embeds it. */
export interface SqlCondition {
  readonly params: readonly unknown[];
  /** The condition's text, given the placeholders its `params` have in the statement. */
  readonly sql: (placeholders: readonly string[]) => string;
}

/** Runs the statement; returns its rows, read. */
export async function runStatement<T>(q: Queryable, statement: Statement<T>): Promise<T[]> {
  const text = statement.ctes ? `WITH ${statement.ctes} ${statement.text}` : statement.text;
  const result = await q.query<never>(text, statement.params);
  return result.rows.map(statement.read);
}
