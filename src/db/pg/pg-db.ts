// Db adapter for a PostgreSQL server, on node-postgres. LISTEN uses one dedicated connection that
// is re-opened when it drops (the outbox relay's slow fallback poll covers the gap).
import pg from 'pg';
import type { Db, QueryResult, Queryable, Unlisten } from '../db.js';
import type { Logger } from '../../shared/logger.js';
import { errorMessage } from '../../shared/errors.js';

// Timestamps and int8 are parsed the same way in both adapters: Date and number.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export interface PgDbOptions {
  connectionString: string;
  maxConnections?: number;
  logger?: Logger;
}

function wrap(client: pg.Pool | pg.PoolClient): Queryable {
  return {
    async query<T>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<T>> {
      const result = await client.query(sql, params as unknown[]);
      return { rows: result.rows as T[], rowCount: result.rowCount ?? 0 };
    },
  };
}

export function createPgDb(options: PgDbOptions): Db {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.maxConnections ?? 10,
  });
  pool.on('error', (error) =>
    options.logger?.warn({ err: error }, 'idle database connection failed'),
  );
  const poolQueryable = wrap(pool);
  const listeners = new Set<{ close: () => Promise<void> }>();

  async function listen(channel: string, onNotify: (payload: string) => void): Promise<Unlisten> {
    let closed = false;
    let client: pg.Client | undefined;
    let retry: NodeJS.Timeout | undefined;

    const open = async (): Promise<void> => {
      const next = new pg.Client({ connectionString: options.connectionString });
      next.on('notification', (message) => {
        if (message.channel === channel) onNotify(message.payload ?? '');
      });
      next.on('error', (error) => {
        options.logger?.warn({ err: error, channel }, 'LISTEN connection failed; reopening');
        scheduleReopen();
      });
      await next.connect();
      await next.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      client = next;
    };
    const scheduleReopen = (): void => {
      const old = client;
      client = undefined;
      old?.end().catch(() => undefined);
      if (closed || retry) return;
      retry = setTimeout(() => {
        retry = undefined;
        if (closed) return;
        open().catch((error: unknown) => {
          options.logger?.warn({ channel, error: errorMessage(error) }, 'LISTEN reconnect failed');
          scheduleReopen();
        });
      }, 1000);
    };

    await open();
    const handle = {
      close: async (): Promise<void> => {
        closed = true;
        if (retry) clearTimeout(retry);
        listeners.delete(handle);
        await client?.end().catch(() => undefined);
      },
    };
    listeners.add(handle);
    return handle.close;
  }

  return {
    kind: 'postgres',
    query: (sql, params) => poolQueryable.query(sql, params),
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn(wrap(client));
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    },
    listen,
    async close(): Promise<void> {
      await Promise.all([...listeners].map((l) => l.close()));
      await pool.end();
    },
  };
}
