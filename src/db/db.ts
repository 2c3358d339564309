// The database port: parameterised queries, transactions and LISTEN/NOTIFY. Adapters: db/pg
// (a PostgreSQL server through node-postgres) and db/pglite (embedded PGlite).

export interface QueryResult<T> {
  rows: T[];
  rowCount: number;
}

export interface Queryable {
  query<T = Record<string, unknown>>(
    sql: string,
    params?: readonly unknown[],
  ): Promise<QueryResult<T>>;
}

export type Unlisten = () => Promise<void>;

export interface Db extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** Runs `fn` in one transaction; commits when it resolves, rolls back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Calls `onNotify` for every NOTIFY on `channel` until the returned function is called. */
  listen(channel: string, onNotify: (payload: string) => void): Promise<Unlisten>;
  close(): Promise<void>;
}

/** NOTIFY channel raised at the commit of events into the outbox (by the table's trigger,
 * migration 0003_outbox_notify.sql, which names it too). */
export const OUTBOX_CHANNEL = 'hodei_outbox';
