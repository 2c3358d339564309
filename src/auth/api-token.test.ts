import { describe, expect, it } from 'vitest';
import {
  checkTokenName,
  hashApiToken,
  looksLikeApiToken,
  newApiToken,
  parseScopes,
} from './api-token.js';

describe('API tokens', () => {
  it('are new each time, recognisable, and hashed to 32 bytes of hex', () => {
    const a = newApiToken();
    const b = newApiToken();
    expect(a).not.toBe(b);
    expect(looksLikeApiToken(a)).toBe(true);
    expect(looksLikeApiToken(`${a}x`)).toBe(false);
    expect(looksLikeApiToken('Bearer x')).toBe(false);
    expect(hashApiToken(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashApiToken(a)).not.toBe(hashApiToken(b));
  });

  it('names are short and plain', () => {
    expect(checkTokenName('ci-deploy.2')).toBe('ci-deploy.2');
    expect(() => checkTokenName('')).toThrow(/^name: "" is not a token name/);
    expect(() => checkTokenName('Has Space')).toThrow(/not a token name/);
    expect(() => checkTokenName('a'.repeat(65))).toThrow(/not a token name/);
  });

  it('scopes parse from repeated or comma-separated names, in a fixed order', () => {
    expect(parseScopes(['read,submit'])).toEqual(['submit', 'read']);
    expect(parseScopes(['admin', 'admin'])).toEqual(['admin']);
    expect(() => parseScopes(['write'])).toThrow(
      /^scope: "write" is not a scope \(one of submit, read, cancel, admin\)/,
    );
    expect(() => parseScopes([])).toThrow(/give at least one/);
  });
});
