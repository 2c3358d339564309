// The secrets key as text: 32 bytes written as 64 hex digits or as base64 (standard or URL-safe,
// padded or not), the way `openssl rand -base64 32` and `openssl rand -hex 32` print them. A key
// of any other length is refused with the length it had; the text itself is never echoed.
import { ConfigError } from '../shared/errors.js';
import { SECRETS_KEY_BYTES } from './secret-box.js';

const HEX = /^[0-9a-fA-F]+$/;
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/** The key `text` encodes; ConfigError naming `source` (a variable or a file) when it is not 32
 * bytes in hex or base64. */
export function decodeSecretsKey(text: string, source: string): Buffer {
  const trimmed = text.trim();
  let key: Buffer | undefined;
  if (trimmed.length === SECRETS_KEY_BYTES * 2 && HEX.test(trimmed)) {
    key = Buffer.from(trimmed, 'hex');
  } else if (BASE64.test(trimmed)) {
    key = Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  }
  if (key?.length !== SECRETS_KEY_BYTES) {
    const what =
      key === undefined
        ? `${trimmed.length} characters that are neither hex nor base64`
        : `${key.length} bytes`;
    throw new ConfigError(
      source,
      `a secrets key is ${SECRETS_KEY_BYTES} bytes written as 64 hex digits or base64 (make one with "openssl rand -base64 32"); got ${what}`,
    );
  }
  return key;
}

/** A new random key as the text a key file holds (base64 and a newline). */
export function encodeSecretsKey(key: Buffer): string {
  return `${key.toString('base64')}\n`;
}
