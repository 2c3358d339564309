// The CLI's context: which server, token and CA bundle a command uses (flag first, then the
// environment), with a usage error for a value it cannot use.
import { describe, expect, it } from 'vitest';
import { createContext } from './context.js';

describe('createContext', () => {
  it('takes the CA bundle from --ca, else HODEI_CA, else none (the system trust store)', () => {
    const env = { HODEI_CA: '/etc/hodei/ca.pem' };
    expect(createContext(() => undefined, env).ca()).toEqual({
      file: '/etc/hodei/ca.pem',
      source: 'HODEI_CA',
    });
    const flagged = createContext(
      () => undefined,
      env,
      () => undefined,
      () => 'my-ca.pem',
    );
    expect(flagged.ca()).toEqual({ file: 'my-ca.pem', source: '--ca' });
    expect(createContext(() => undefined, { HODEI_CA: ' ' }).ca()).toBeUndefined();
    const empty = createContext(
      () => undefined,
      {},
      () => undefined,
      () => '',
    );
    expect(() => empty.ca()).toThrow('--ca must name a PEM file');
  });

  it('accepts https:// server addresses', () => {
    const ctx = createContext(() => 'https://hodei.example:50051/', {});
    expect(ctx.serverUrl()).toBe('https://hodei.example:50051');
  });
});
