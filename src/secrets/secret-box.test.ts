// Sealing a job's secrets: a round trip under one key; another key, another job or an altered
// byte fails with an error that says which and shows no value; digests for idempotency.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SecretsUnreadableError } from '../shared/errors.js';
import { createSecretBox, sameDigest } from './secret-box.js';

const key = randomBytes(32);
const box = createSecretBox(key);
const secrets = { TOKEN: 'hunter22', DB_PASSWORD: 'pa:ss word ✓' };

function openError(run: () => unknown): SecretsUnreadableError {
  try {
    run();
  } catch (error) {
    if (error instanceof SecretsUnreadableError) return error;
    throw error;
  }
  throw new Error('opened');
}

describe('createSecretBox', () => {
  it('opens what it sealed, and the sealed bytes hold no value', () => {
    const sealed = box.seal('job-1', secrets);
    expect(box.open('job-1', sealed)).toEqual(secrets);
    expect(sealed.nonce).toHaveLength(12);
    expect(sealed.tag).toHaveLength(16);
    expect(sealed.keyId).toBe(box.keyId);
    expect(sealed.keyId).toMatch(/^[0-9a-f]{16}$/);
    const stored = Buffer.concat([sealed.nonce, sealed.ciphertext, sealed.tag]).toString('latin1');
    expect(stored).not.toContain('hunter22');
    expect(stored).not.toContain('TOKEN');
  });

  it('uses a fresh nonce for every seal', () => {
    const a = box.seal('job-1', secrets);
    const b = box.seal('job-1', secrets);
    expect(a.nonce.equals(b.nonce)).toBe(false);
    expect(a.ciphertext.equals(b.ciphertext)).toBe(false);
  });

  it('refuses another key, naming both key ids', () => {
    const sealed = box.seal('job-1', secrets);
    const other = createSecretBox(randomBytes(32));
    const error = openError(() => other.open('job-1', sealed));
    expect(error.reason).toBe('other-key');
    expect(error.message).toContain(`encrypted with secrets key ${box.keyId}`);
    expect(error.message).toContain(`this server has key ${other.keyId}`);
    expect(error.message).not.toContain('hunter22');
  });

  it('refuses a ciphertext moved to another job or altered in one bit', () => {
    const sealed = box.seal('job-1', secrets);
    expect(openError(() => box.open('job-2', sealed)).reason).toBe('altered');
    const flipped = Buffer.from(sealed.ciphertext);
    flipped[0] = (flipped[0] ?? 0) ^ 1;
    expect(openError(() => box.open('job-1', { ...sealed, ciphertext: flipped })).reason).toBe(
      'altered',
    );
    // A key id forged to match does not help.
    const other = createSecretBox(randomBytes(32));
    const forged = { ...other.seal('job-1', secrets), keyId: box.keyId };
    expect(openError(() => box.open('job-1', forged)).reason).toBe('altered');
  });

  it('derives the same key id and digests from the same key', () => {
    const again = createSecretBox(Buffer.from(key));
    expect(again.keyId).toBe(box.keyId);
    const digest = box.digest('deploy-42', secrets);
    expect(sameDigest(again.digest('deploy-42', { ...secrets }), digest)).toBe(true);
    expect(sameDigest(box.digest('deploy-42', { ...secrets, TOKEN: 'other' }), digest)).toBe(false);
    expect(sameDigest(box.digest('deploy-43', secrets), digest)).toBe(false);
    expect(sameDigest(createSecretBox(randomBytes(32)).digest('deploy-42', secrets), digest)).toBe(
      false,
    );
    expect(digest).not.toContain('hunter22');
  });

  it('takes only a 32-byte key', () => {
    expect(() => createSecretBox(randomBytes(16))).toThrow(/32 bytes, got 16/);
  });
});
