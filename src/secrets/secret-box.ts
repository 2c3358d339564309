// Sealing and opening a job's secrets (decision 0015). The values of one job are one AES-256-GCM
// ciphertext of their JSON map, under a fresh random 12-byte nonce, with the job id as associated
// data: a ciphertext copied onto another job's row fails to open, as does one altered in any bit.
// Three keys are derived from the one 32-byte secrets key with HKDF-SHA256 (each for one use):
// the encryption key, a fingerprint that names the key in stored rows (so a server with another
// key says so instead of failing obscurely), and a MAC key for idempotency digests.
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { SecretsUnreadableError } from '../shared/errors.js';

export const SECRETS_KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** What is stored for one job: none of it reveals a value without the key. */
export interface SealedSecrets {
  /** Fingerprint of the key that sealed them (16 hex digits). */
  keyId: string;
  nonce: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

export interface SecretBox {
  /** Fingerprint of this key, as stored with every ciphertext it seals. */
  readonly keyId: string;
  seal(jobId: string, secrets: Readonly<Record<string, string>>): SealedSecrets;
  /** The values, or SecretsUnreadableError (another key, or altered bytes). */
  open(jobId: string, sealed: SealedSecrets): Record<string, string>;
  /** A keyed hash of an idempotency key and secret values: equal for equal values under the
   * same key and idempotency key; says nothing about the values without the secrets key. */
  digest(idempotencyKey: string, secrets: Readonly<Record<string, string>>): string;
}

function derive(master: Buffer, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), `hodei secrets ${purpose}`, 32));
}

/** The map as JSON with its names in order, so equal maps give equal bytes. */
function canonical(secrets: Readonly<Record<string, string>>): string {
  const sorted: Record<string, string> = {};
  for (const name of Object.keys(secrets).sort()) sorted[name] = secrets[name] ?? '';
  return JSON.stringify(sorted);
}

export function createSecretBox(master: Buffer): SecretBox {
  if (master.length !== SECRETS_KEY_BYTES) {
    throw new RangeError(`a secrets key is ${SECRETS_KEY_BYTES} bytes, got ${master.length}`);
  }
  const encryptionKey = derive(master, 'encryption v1');
  const macKey = derive(master, 'idempotency digest v1');
  const keyId = derive(master, 'key id v1').subarray(0, 8).toString('hex');

  return {
    keyId,
    seal(jobId, secrets) {
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv('aes-256-gcm', encryptionKey, nonce, {
        authTagLength: TAG_BYTES,
      });
      cipher.setAAD(Buffer.from(jobId, 'utf8'));
      const ciphertext = Buffer.concat([cipher.update(canonical(secrets), 'utf8'), cipher.final()]);
      return { keyId, nonce, ciphertext, tag: cipher.getAuthTag() };
    },
    open(jobId, sealed) {
      if (sealed.keyId !== keyId) {
        throw new SecretsUnreadableError(jobId, 'other-key', {
          stored: sealed.keyId,
          current: keyId,
        });
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', encryptionKey, sealed.nonce, {
          authTagLength: TAG_BYTES,
        });
        decipher.setAAD(Buffer.from(jobId, 'utf8'));
        decipher.setAuthTag(sealed.tag);
        const plain = Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]);
        const parsed = JSON.parse(plain.toString('utf8')) as unknown;
        if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error();
        const values: Record<string, string> = {};
        for (const [name, value] of Object.entries(parsed)) {
          if (typeof value !== 'string') throw new Error();
          values[name] = value;
        }
        return values;
      } catch {
        // Never the cause: it could carry bytes of the plaintext.
        throw new SecretsUnreadableError(jobId, 'altered', { current: keyId });
      }
    },
    digest(idempotencyKey, secrets) {
      const mac = createHmac('sha256', macKey)
        .update(`${idempotencyKey.length}:${idempotencyKey}`)
        .update(canonical(secrets))
        .digest('base64url');
      return `${keyId}:${mac}`;
    },
  };
}

/** Whether two digests are the same (in constant time). */
export function sameDigest(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
