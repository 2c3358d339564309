// The secrets key from a setting or a key file: 32 bytes in hex or base64, a clear error for
// anything else (never echoing it), and a key file made once with mode 0600.
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeSecretsKey } from './secrets-key.js';
import { loadSecretsKey } from './secrets-key-file.js';

describe('decodeSecretsKey', () => {
  const key = randomBytes(32);

  it('reads 32 bytes as hex, base64 or base64url', () => {
    expect(decodeSecretsKey(key.toString('hex'), 'X').equals(key)).toBe(true);
    expect(decodeSecretsKey(`${key.toString('base64')}\n`, 'X').equals(key)).toBe(true);
    expect(decodeSecretsKey(key.toString('base64url'), 'X').equals(key)).toBe(true);
  });

  it('refuses another length, naming the setting and not the value', () => {
    const short = randomBytes(16).toString('base64');
    expect(() => decodeSecretsKey(short, 'HODEI_SECRETS_KEY')).toThrow(
      /^HODEI_SECRETS_KEY: a secrets key is 32 bytes written as 64 hex digits or base64 \(make one with "openssl rand -base64 32"\); got 16 bytes$/,
    );
    expect(() => decodeSecretsKey('not a key!', 'HODEI_SECRETS_KEY')).toThrow(
      /got 10 characters that are neither hex nor base64$/,
    );
  });
});

describe('loadSecretsKey', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'hodei-key-test-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('makes the key file at the first start with mode 0600 and reads it after', async () => {
    const file = path.join(dir, 'data', 'secrets.key');
    const first = await loadSecretsKey({ keyText: undefined, keyFile: file });
    expect(first).toMatchObject({ created: true, source: file, readableByOthers: false });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const second = await loadSecretsKey({ keyText: undefined, keyFile: file });
    expect(second.created).toBe(false);
    expect(second.key.equals(first.key)).toBe(true);
    expect((await readFile(file, 'utf8')).trim()).toBe(first.key.toString('base64'));
  });

  it('gives two servers starting together one key', async () => {
    const file = path.join(dir, 'secrets.key');
    const keys = await Promise.all(
      Array.from({ length: 8 }, () => loadSecretsKey({ keyText: undefined, keyFile: file })),
    );
    expect(keys.filter((k) => k.created)).toHaveLength(1);
    expect(new Set(keys.map((k) => k.key.toString('hex'))).size).toBe(1);
  });

  it('prefers the setting, and says which file holds a bad key', async () => {
    const key = randomBytes(32);
    const file = path.join(dir, 'secrets.key');
    const loaded = await loadSecretsKey({ keyText: key.toString('hex'), keyFile: file });
    expect(loaded).toMatchObject({ source: 'HODEI_SECRETS_KEY', created: false });
    await expect(stat(file)).rejects.toThrow(/ENOENT/);
    await writeFile(file, 'c2hvcnQ=\n', { mode: 0o644 });
    await expect(loadSecretsKey({ keyText: undefined, keyFile: file })).rejects.toThrow(
      `HODEI_SECRETS_KEY_FILE (${file}): a secrets key is 32 bytes`,
    );
    await writeFile(file, randomBytes(32).toString('base64'));
    expect((await loadSecretsKey({ keyText: undefined, keyFile: file })).readableByOthers).toBe(
      true,
    );
  });
});
