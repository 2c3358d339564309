// Token storage on both databases: only the hash is kept, names are unique for good, a revoked
// token stops verifying at once on the store that revoked it and after the cache time elsewhere,
// last use is recorded.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApiTokens } from '../../src/auth/api-tokens.js';
import { hashApiToken } from '../../src/auth/api-token.js';
import { createAnyTestDatabase, DB_KINDS, type AnyTestDatabase } from '../helpers/databases.js';

for (const kind of DB_KINDS) {
  describe(`API token storage (${kind})`, () => {
    let t: AnyTestDatabase;
    let now = 1_000_000;
    const clock = { now: () => now };
    beforeEach(async () => {
      t = await createAnyTestDatabase(kind);
    });
    afterEach(async () => {
      await t.drop();
    });

    it('keeps only the hash, and verifies the token to its name and scopes', async () => {
      const tokens = createApiTokens({ db: t.db, clock });
      const { token, record } = await tokens.create('ci', ['submit', 'read']);
      expect(record).toMatchObject({ name: 'ci', scopes: ['submit', 'read'], revokedAt: null });
      const rows = await t.db.query<{ row: string }>(
        'SELECT row_to_json(a)::text AS row FROM api_tokens a',
      );
      expect(rows.rows[0]?.row).not.toContain(token);
      expect(rows.rows[0]?.row).toContain(hashApiToken(token));
      expect(await tokens.verify(token)).toEqual({ name: 'ci', scopes: ['submit', 'read'] });
      // One character changed (never to itself: a token ends in A one time in sixteen).
      const at = token.length - 5;
      const other = `${token.slice(0, at)}${token[at] === 'A' ? 'B' : 'A'}${token.slice(at + 1)}`;
      expect(await tokens.verify(other)).toBeUndefined();
      expect(await tokens.verify('')).toBeUndefined();
      const [listed] = await tokens.list();
      expect(listed?.lastUsedAt).toBeInstanceOf(Date);
    });

    it('never reuses a name, even a revoked one', async () => {
      const tokens = createApiTokens({ db: t.db, clock });
      await tokens.create('ci', ['read']);
      await expect(tokens.create('ci', ['admin'])).rejects.toThrow(
        'a token named "ci" exists already (names are never reused)',
      );
      await tokens.revoke('ci');
      await expect(tokens.create('ci', ['admin'])).rejects.toThrow(/exists already/);
      await expect(tokens.revoke('ci')).rejects.toThrow('live token ci not found');
      await expect(tokens.create('Bad Name', ['read'])).rejects.toThrow(/not a token name/);
    });

    it('a revocation holds at once where it was made, within the cache time elsewhere', async () => {
      const here = createApiTokens({ db: t.db, clock, cacheMs: 5000 });
      const elsewhere = createApiTokens({ db: t.open(), clock, cacheMs: 5000 });
      const { token } = await here.create('ops', ['admin']);
      expect(await here.verify(token)).toBeDefined();
      expect(await elsewhere.verify(token)).toBeDefined();
      await here.revoke('ops');
      expect(await here.verify(token)).toBeUndefined();
      expect(await elsewhere.verify(token)).toBeDefined(); // still cached there
      now += 5001;
      expect(await elsewhere.verify(token)).toBeUndefined();
    });
  });
}
