// A secret box under a fresh random key, for tests that queue or dispatch jobs in process.
import { randomBytes } from 'node:crypto';
import { createSecretBox, type SecretBox } from '../../src/secrets/secret-box.js';

export function testSecretBox(): SecretBox {
  return createSecretBox(randomBytes(32));
}
