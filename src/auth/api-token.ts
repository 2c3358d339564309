// API tokens as text: made from 32 random bytes, kept only as a SHA-256 hash, recognised by a
// prefix (so a leaked one is easy to find in logs and secret scanners). Pure apart from the
// random bytes.
import { createHash, randomBytes } from 'node:crypto';
import { InvalidArgumentError } from '../shared/errors.js';
import { quoteBounded } from '../shared/text-bounds.js';
import { isScope, SCOPES, type Scope } from './scopes.js';

const PREFIX = 'hodei_';
const TOKEN_TEXT = /^hodei_[A-Za-z0-9_-]{43}$/;
const NAME_TEXT = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** A new token: shown once to whoever made it, never stored. */
export function newApiToken(): string {
  return `${PREFIX}${randomBytes(32).toString('base64url')}`;
}

/** True when `text` has the shape of a token (checked before any lookup). */
export function looksLikeApiToken(text: string): boolean {
  return TOKEN_TEXT.test(text);
}

/** What the database keeps of a token (hex). 32 random bytes need no salt or slow hash: nothing
 * about them can be guessed. */
export function hashApiToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function checkTokenName(name: string): string {
  if (!NAME_TEXT.test(name)) {
    throw new InvalidArgumentError(
      'name',
      `${quoteBounded(name)} is not a token name (1–64 of a-z, 0-9, . _ -, starting with a letter or digit)`,
    );
  }
  return name;
}

/** Parses scope names (each may be a comma-separated list); at least one, no repeats kept. */
export function parseScopes(texts: readonly string[], field = 'scope'): Scope[] {
  const scopes = new Set<Scope>();
  for (const text of texts.flatMap((t) => t.split(','))) {
    const scope = text.trim();
    if (!isScope(scope)) {
      throw new InvalidArgumentError(
        field,
        `${quoteBounded(scope)} is not a scope (one of ${SCOPES.join(', ')})`,
      );
    }
    scopes.add(scope);
  }
  if (scopes.size === 0) {
    throw new InvalidArgumentError(field, `give at least one (${SCOPES.join(', ')})`);
  }
  return SCOPES.filter((s) => scopes.has(s));
}
