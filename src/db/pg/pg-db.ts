// Db adapter for a PostgreSQL server, on node-postgres. LISTEN uses one dedicated connection that
// is re-opened when it drops (the outbox relay's slow fallback poll covers the gap).
import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Db, QueryResult, Queryable, Unlisten } from '../db.js';
import type { Logger } from '../../shared/logger.js';
import { errorMessage } from '../../shared/errors.js';
import { isTransientDbError } from '../transient-error.js';

// Timestamps and int8 are parsed the same way in both adapters: Date and number.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export interface PgDbOptions {
  connectionString: string;
  maxConnections?: number;
  logger?: Logger;
  /** Parameterised statements prepared once per connection (default true). */
  prepare?: boolean;
}

/** Statement texts prepared under a name, at most this many (beyond: sent unnamed). */
const MAX_PREPARED = 2000;
const preparedNames = new Map<string, string>();

/**
 * The name a parameterised statement is prepared under on each connection (parsed and planned
 * once per connection, not on every call): derived from its text, so one text has one name.
 * Our statements are a fixed set of texts; a text never seen before beyond the bound goes
 * unnamed, as every statement used to.
 */
function preparedName(sql: string): string | undefined {
  let name = preparedNames.get(sql);
  if (name === undefined && preparedNames.size < MAX_PREPARED) {
    name = `h${createHash('sha1').update(sql).digest('base64url')}`;
    preparedNames.set(sql, name);
  }
  return name;
}

function wrap(client: pg.Pool | pg.PoolClient, prepare: boolean): Queryable {
  return {
    async query<T>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<T>> {
      const values = params as unknown[];
      const name = prepare && values.length > 0 ? preparedName(sql) : undefined;
      const result = await client.query(name ? { name, text: sql, values } : sql, values);
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
  // Every connection of the pool carries an error listener for its whole life: a connection
  // that dies (a killed backend, a restart) emits 'error', and an 'error' with no listener would
  // end the process. The pool's own listener comes and goes as the connection is checked out and
  // back; the query in flight fails anyway, which is what its caller sees.
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
  });
  const prepare = options.prepare ?? true;
  const poolQueryable = wrap(pool, prepare);
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
      // A checked-out client is the pool's no longer: its connection dying (a killed backend, a
      // restart) emits 'error' on it, and with no listener that would end the process. The query
      // in flight fails as well, which is what the caller sees.
      let broken: unknown;
      const onError = (error: unknown) => {
        broken ??= error;
      };
      client.on('error', onError);
      try {
        await client.query('BEGIN');
        const result = await fn(wrap(client, prepare));
        await client.query('COMMIT');
        return result;
      } catch (error) {
        if (isTransientDbError(error)) broken ??= error;
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        if (broken === undefined) {
          client.off('error', onError);
          client.release();
        } else {
          // A dead connection is destroyed, not handed back; it may still report its end, so the
          // listener stays on it.
          options.logger?.warn({ err: broken }, 'database connection lost inside a transaction');
          client.release(broken instanceof Error ? broken : new Error(errorMessage(broken)));
        }
      }
    },
    listen,
    async close(): Promise<void> {
      await Promise.all([...listeners].map((l) => l.close()));
      await pool.end();
    },
  };
}
