// The api_tokens table (migration 0012): one statement per function.
import type { Queryable } from '../db/db.js';
import type { Scope } from './scopes.js';

export interface ApiTokenRecord {
  name: string;
  scopes: Scope[];
  createdAt: Date;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
}

interface Row {
  name: string;
  scopes: Scope[];
  created_at: Date;
  revoked_at: Date | null;
  last_used_at: Date | null;
}

const COLUMNS = 'name, scopes, created_at, revoked_at, last_used_at';

function toRecord(row: Row): ApiTokenRecord {
  return {
    name: row.name,
    scopes: row.scopes,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
    lastUsedAt: row.last_used_at,
  };
}

/** Stores a token's hash; returns the record, or undefined when the name is taken (by a live or
 * a revoked token). */
export async function insertApiToken(
  q: Queryable,
  token: { name: string; scopes: readonly Scope[]; hash: string },
): Promise<ApiTokenRecord | undefined> {
  const result = await q.query<Row>(
    `INSERT INTO api_tokens (name, scopes, token_hash) VALUES ($1, $2, $3)
     ON CONFLICT (name) DO NOTHING RETURNING ${COLUMNS}`,
    [token.name, token.scopes, token.hash],
  );
  return result.rows[0] ? toRecord(result.rows[0]) : undefined;
}

/** Every token, revoked ones too, oldest first. */
export async function listApiTokens(q: Queryable): Promise<ApiTokenRecord[]> {
  const result = await q.query<Row>(`SELECT ${COLUMNS} FROM api_tokens ORDER BY created_at, name`);
  return result.rows.map(toRecord);
}

/** Revokes a live token; returns it, or undefined when no live token has this name. */
export async function revokeApiToken(
  q: Queryable,
  name: string,
): Promise<ApiTokenRecord | undefined> {
  const result = await q.query<Row>(
    `UPDATE api_tokens SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL
     RETURNING ${COLUMNS}`,
    [name],
  );
  return result.rows[0] ? toRecord(result.rows[0]) : undefined;
}

/** The live token with this hash, or undefined; records when it was last used (at most once a
 * minute, so a busy client does not write on every call). */
export async function useApiToken(q: Queryable, hash: string): Promise<ApiTokenRecord | undefined> {
  const result = await q.query<Row>(
    `WITH found AS (
       SELECT name FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL
     ), touched AS (
       UPDATE api_tokens t SET last_used_at = now() FROM found f
       WHERE t.name = f.name AND (t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute')
     )
     SELECT ${COLUMNS} FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL`,
    [hash],
  );
  return result.rows[0] ? toRecord(result.rows[0]) : undefined;
}
