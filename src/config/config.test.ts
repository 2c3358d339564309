// Server settings: defaults, and a clear error naming the variable for a value the server cannot use.
import { describe, expect, it } from 'vitest';
import { loadServerConfig, secretsKeyFileOf } from './config.js';

describe('loadServerConfig', () => {
  it('takes the defaults from an empty environment', () => {
    const config = loadServerConfig({});
    expect(config.subjectPrefix).toBe('hodei.events');
    expect(config.relayMaxAttempts).toBe(3);
  });

  it('refuses a subject prefix the bus would refuse, naming the variable and the reason', () => {
    expect(() => loadServerConfig({ HODEI_SUBJECT_PREFIX: 'hodei events' })).toThrow(
      'HODEI_SUBJECT_PREFIX: the subject contains whitespace or a control character: "hodei events"',
    );
    expect(() => loadServerConfig({ HODEI_SUBJECT_PREFIX: 'hodei.>' })).toThrow(
      'HODEI_SUBJECT_PREFIX: the subject has a wildcard token',
    );
    expect(() => loadServerConfig({ HODEI_SUBJECT_PREFIX: 'hodei..events' })).toThrow(
      'HODEI_SUBJECT_PREFIX: the subject has an empty token',
    );
    expect(loadServerConfig({ HODEI_SUBJECT_PREFIX: 'team-a.events' }).subjectPrefix).toBe(
      'team-a.events',
    );
  });

  it('refuses a secrets key that is not 32 bytes at start, and finds the key file in the data dir', () => {
    expect(() => loadServerConfig({ HODEI_SECRETS_KEY: 'c2hvcnQ=' })).toThrow(
      /^HODEI_SECRETS_KEY: a secrets key is 32 bytes .*; got 5 bytes$/,
    );
    const key = 'ab'.repeat(32);
    expect(loadServerConfig({ HODEI_SECRETS_KEY: key }).secretsKey).toBe(key);
    expect(secretsKeyFileOf(loadServerConfig({ HODEI_DATA_DIR: '/var/lib/hodei' }))).toBe(
      '/var/lib/hodei/secrets.key',
    );
    expect(secretsKeyFileOf(loadServerConfig({}))).toBe('.hodei/secrets.key');
    const file = loadServerConfig({ HODEI_SECRETS_KEY_FILE: '/etc/hodei/key' });
    expect(secretsKeyFileOf(file)).toBe('/etc/hodei/key');
  });

  it('refuses a relay try count under 1', () => {
    expect(() => loadServerConfig({ HODEI_RELAY_MAX_ATTEMPTS: '0' })).toThrow(
      'HODEI_RELAY_MAX_ATTEMPTS: expected an integer >= 1, got "0"',
    );
  });

  it('turns auth on by request on loopback, and always elsewhere unless told --insecure', () => {
    expect(loadServerConfig({}).auth).toBe('off');
    expect(loadServerConfig({ HODEI_AUTH: 'token' }).auth).toBe('token');
    expect(loadServerConfig({ HODEI_LISTEN: '[::1]:5000' }).auth).toBe('off');
    expect(loadServerConfig({ HODEI_LISTEN: 'localhost:5000' }).auth).toBe('off');
    expect(loadServerConfig({ HODEI_LISTEN: '0.0.0.0:5000' }).auth).toBe('token');
    expect(loadServerConfig({ HODEI_LISTEN: '10.1.2.3:5000', HODEI_AUTH: 'token' }).auth).toBe(
      'token',
    );
    expect(() => loadServerConfig({ HODEI_LISTEN: '0.0.0.0:5000', HODEI_AUTH: 'off' })).toThrow(
      /^HODEI_AUTH: the server listens on 0\.0\.0\.0, which other machines can reach: auth may be off there only with --insecure/,
    );
    expect(
      loadServerConfig({ HODEI_LISTEN: '0.0.0.0:5000', HODEI_AUTH: 'off', HODEI_INSECURE: '1' })
        .auth,
    ).toBe('off');
    expect(loadServerConfig({ HODEI_LISTEN: '0.0.0.0:5000', HODEI_INSECURE: 'true' }).auth).toBe(
      'off',
    );
    expect(() => loadServerConfig({ HODEI_AUTH: 'yes' })).toThrow(
      'HODEI_AUTH: expected token or off, got "yes"',
    );
    expect(() => loadServerConfig({ HODEI_INSECURE: 'maybe' })).toThrow(/^HODEI_INSECURE: /);
    expect(loadServerConfig({ HODEI_METRICS_AUTH: 'token' }).metricsAuth).toBe(true);
  });

  it('prepares statements unless HODEI_DATABASE_PREPARE=off; anything else is named', () => {
    expect(loadServerConfig({}).databasePrepare).toBe(true);
    expect(loadServerConfig({ HODEI_DATABASE_PREPARE: 'off' }).databasePrepare).toBe(false);
    expect(() => loadServerConfig({ HODEI_DATABASE_PREPARE: 'no' })).toThrow(
      'HODEI_DATABASE_PREPARE: expected on or off, got "no"',
    );
  });
});
