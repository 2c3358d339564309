// Db adapter for embedded PGlite: PostgreSQL compiled to WebAssembly, running inside this process
// with its data in a local folder (or in memory). PGlite is a single connection, so every
// statement and transaction runs one at a time: PGlite's own transaction mutex makes `db.query`
// issued outside a transaction wait until the running transaction has committed or rolled back,
// instead of landing inside it. Values come back as in the pg adapter: int8 as number,
// timestamptz as Date, json/jsonb parsed, bytea as Uint8Array.
import path from 'node:path';
import { PGlite, types, type Results } from '@electric-sql/pglite';
import type { Db, QueryResult, Queryable, Unlisten } from '../db.js';
import type { Logger } from '../../shared/logger.js';
import { errorMessage } from '../../shared/errors.js';
import { acquireDataDirLock, type DataDirLock } from './data-dir-lock.js';

export interface PgliteDbOptions {
  /** Folder holding the database; created when missing. Undefined keeps everything in memory. */
  dataDir?: string;
  logger?: Logger;
}

/** What the PGlite instance and its transaction object have in common. */
interface PgliteRunner {
  query<T>(sql: string, params?: unknown[]): Promise<Results<T>>;
  exec(sql: string): Promise<Results[]>;
}

const PARSERS = { [types.INT8]: (value: string): number => Number(value) };

function toQueryResult<T>(result: Results<T>): QueryResult<T> {
  // rowCount comes from the command tag (0 for INSERT … ON CONFLICT DO NOTHING that skipped);
  // statements without a count (CREATE, BEGIN) report 0, as node-postgres does.
  return { rows: result.rows, rowCount: result.rowCount ?? result.rows.length };
}

/**
 * Without parameters the simple protocol is used, which accepts several statements in one string
 * (migration files); the result is the last statement's, as node-postgres gives for one statement.
 */
async function run<T>(
  runner: PgliteRunner,
  sql: string,
  params: readonly unknown[] | undefined,
): Promise<QueryResult<T>> {
  if (params === undefined || params.length === 0) {
    const results = await runner.exec(sql);
    const last = results.at(-1) as Results<T> | undefined;
    return last ? toQueryResult(last) : { rows: [], rowCount: 0 };
  }
  return toQueryResult(await runner.query<T>(sql, [...params]));
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

interface ChannelListeners {
  callbacks: Set<(payload: string) => void>;
  /** Settles once LISTEN has run, so a second listener on the same channel waits for it too. */
  ready: Promise<void>;
}

export async function createPgliteDb(options: PgliteDbOptions = {}): Promise<Db> {
  const dataDir = options.dataDir === undefined ? undefined : path.resolve(options.dataDir);
  const lock: DataDirLock | undefined = dataDir ? await acquireDataDirLock(dataDir) : undefined;
  let pglite: PGlite;
  try {
    pglite = await PGlite.create({ dataDir, parsers: PARSERS });
  } catch (error) {
    await lock?.release();
    throw error;
  }
  options.logger?.debug({ dataDir: dataDir ?? 'memory' }, 'embedded database opened');

  let closed = false;
  const channels = new Map<string, ChannelListeners>();
  // One handler for every channel: PGlite's own listen() lower-cases unquoted names and does not
  // unescape quoted ones, so channels are tracked here by their exact name instead.
  pglite.onNotification((channel, payload) => {
    for (const callback of channels.get(channel)?.callbacks ?? []) {
      try {
        callback(payload);
      } catch (error) {
        options.logger?.warn({ channel, error: errorMessage(error) }, 'NOTIFY handler failed');
      }
    }
  });

  async function listen(channel: string, onNotify: (payload: string) => void): Promise<Unlisten> {
    const callback = (payload: string): void => onNotify(payload);
    let entry = channels.get(channel);
    if (!entry) {
      const created: ChannelListeners = {
        callbacks: new Set(),
        ready: pglite.exec(`LISTEN ${quoteIdentifier(channel)}`).then(() => undefined),
      };
      entry = created;
      channels.set(channel, created);
      created.ready.catch(() => {
        if (channels.get(channel) === created) channels.delete(channel);
      });
    }
    const listening = entry;
    listening.callbacks.add(callback);
    try {
      await listening.ready;
    } catch (error) {
      listening.callbacks.delete(callback);
      throw error;
    }
    return async () => {
      if (!listening.callbacks.delete(callback) || listening.callbacks.size > 0) return;
      if (channels.get(channel) === listening) channels.delete(channel);
      if (!closed) await pglite.exec(`UNLISTEN ${quoteIdentifier(channel)}`);
    };
  }

  return {
    kind: 'pglite',
    query: (sql, params) => run(pglite, sql, params),
    transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      // PGlite commits when fn resolves and rolls back when it throws; a COMMIT that finds the
      // transaction aborted (a failed statement whose error fn caught) throws instead of
      // silently rolling back. Inside fn use `tx`: a `db.query` awaited from inside fn would wait
      // for this very transaction and never return (on a server it would use another connection).
      return pglite.transaction((tx) => fn({ query: (sql, params) => run(tx, sql, params) }));
    },
    listen,
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      channels.clear();
      try {
        // Waits for the running transaction and queued statements before shutting down.
        await pglite.close();
      } finally {
        await lock?.release();
        options.logger?.debug({ dataDir: dataDir ?? 'memory' }, 'embedded database closed');
      }
    },
  };
}
