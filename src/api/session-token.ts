// Session tokens handed to a worker at registration and presented once, when it opens its
// stream: the worker id and a random session id, signed with a key only this server process
// knows. A token opens one stream for the worker it was issued to and nothing else: the first
// Connect spends it (crash-only, invariant 4: a worker whose stream ends is lost for good, so it
// never needs a second), a token not spent within `ttlMs` is void, and registering again voids
// the worker's earlier token. A token seen on the wire after its stream opened opens nothing.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../shared/clock.js';
import { systemClock } from '../shared/clock.js';

export interface SessionTokens {
  issue(workerId: string): string;
  /** Spends the token; returns the worker id it was issued for, or undefined (never twice). */
  spend(token: string): string | undefined;
}

export interface SessionTokenOptions {
  key?: Buffer;
  /** How long an issued token may wait for its stream. */
  ttlMs?: number;
  clock?: Clock;
}

/** A registered worker opens its stream at once; a minute is ample on a loaded machine. */
const DEFAULT_TTL_MS = 60_000;

export function createSessionTokens(options: SessionTokenOptions = {}): SessionTokens {
  const key = options.key ?? randomBytes(32);
  const ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
  const clock = options.clock ?? systemClock;
  // Unspent tokens: worker id → its session id and deadline. At most one per worker, and a
  // worker registers once (its password is single-use), so this holds the workers registering
  // right now; expired entries are swept on each issue.
  const unspent = new Map<string, { sessionId: string; expiresAt: number }>();
  const sign = (payload: string) => createHmac('sha256', key).update(payload).digest('base64url');

  function sweep(now: number): void {
    for (const [workerId, entry] of unspent) if (entry.expiresAt <= now) unspent.delete(workerId);
  }

  return {
    issue(workerId) {
      const now = clock.now();
      sweep(now);
      const sessionId = randomBytes(16).toString('base64url');
      unspent.set(workerId, { sessionId, expiresAt: now + ttlMs });
      const payload = `${workerId}.${sessionId}`;
      return `${payload}.${sign(payload)}`;
    },
    spend(token) {
      const dot = token.lastIndexOf('.');
      if (dot <= 0) return undefined;
      const payload = token.slice(0, dot);
      const given = Buffer.from(token.slice(dot + 1));
      const expected = Buffer.from(sign(payload));
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
      const split = payload.lastIndexOf('.');
      const workerId = payload.slice(0, split);
      const entry = unspent.get(workerId);
      if (!entry || entry.sessionId !== payload.slice(split + 1)) return undefined;
      unspent.delete(workerId);
      return entry.expiresAt > clock.now() ? workerId : undefined;
    },
  };
}
