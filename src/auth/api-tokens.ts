// API tokens as an operation: made (the token shown once, its hash stored), listed, revoked, and
// verified on every call. A verified token is remembered for a few seconds so a busy client does
// not cost a query per call; a revocation takes effect at once on the server that made it and
// within `cacheMs` on the others.
import type { Db } from '../db/db.js';
import type { Clock } from '../shared/clock.js';
import { ApiTokenNameTakenError, NotFoundError } from '../shared/errors.js';
import { checkTokenName, hashApiToken, looksLikeApiToken, newApiToken } from './api-token.js';
import {
  insertApiToken,
  listApiTokens,
  revokeApiToken,
  useApiToken,
  type ApiTokenRecord,
} from './api-token-sql.js';
import type { Scope } from './scopes.js';

/** Who is calling: the token's name and scopes. */
export interface Caller {
  readonly name: string;
  readonly scopes: readonly Scope[];
}

export interface ApiTokensDeps {
  db: Db;
  clock: Clock;
  /** How long a verified token is trusted without asking the database again. */
  cacheMs?: number;
}

const CACHE_ENTRIES = 1000;

export function createApiTokens(deps: ApiTokensDeps) {
  const { db, clock } = deps;
  const cacheMs = deps.cacheMs ?? 5000;
  const cache = new Map<string, { caller: Caller; until: number }>();

  async function create(
    name: string,
    scopes: readonly Scope[],
  ): Promise<{ token: string; record: ApiTokenRecord }> {
    const token = newApiToken();
    const record = await insertApiToken(db, {
      name: checkTokenName(name),
      scopes,
      hash: hashApiToken(token),
    });
    if (!record) throw new ApiTokenNameTakenError(name);
    return { token, record };
  }

  async function revoke(name: string): Promise<ApiTokenRecord> {
    const record = await revokeApiToken(db, name);
    if (!record) throw new NotFoundError('live token', name);
    for (const [hash, entry] of cache) if (entry.caller.name === name) cache.delete(hash);
    return record;
  }

  /** The caller a token stands for, or undefined when it is malformed, unknown or revoked. */
  async function verify(token: string): Promise<Caller | undefined> {
    if (!looksLikeApiToken(token)) return undefined;
    const hash = hashApiToken(token);
    const now = clock.now();
    const cached = cache.get(hash);
    if (cached && cached.until > now) return cached.caller;
    cache.delete(hash);
    const record = await useApiToken(db, hash);
    if (!record) return undefined;
    const caller: Caller = Object.freeze({ name: record.name, scopes: record.scopes });
    if (cache.size >= CACHE_ENTRIES) cache.delete(cache.keys().next().value ?? '');
    cache.set(hash, { caller, until: now + cacheMs });
    return caller;
  }

  return { create, list: () => listApiTokens(db), revoke, verify };
}

export type ApiTokens = ReturnType<typeof createApiTokens>;
