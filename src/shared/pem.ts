// PEM files: reading one a setting or flag names (a certificate, a CA bundle, a private key) with
// an error that names the setting, the path and what is wrong, and the certificates of a bundle.
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { ConfigError, errorMessage } from './errors.js';

const CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const PRIVATE_KEY = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

/** Reads the PEM file `source` (a variable or a flag) names; refuses one that cannot be read or
 * holds no `what`. */
export function readPemFile(
  source: string,
  file: string,
  what: 'certificate' | 'private key',
): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const reason =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'it is a directory'
            : errorMessage(error);
    throw new ConfigError(source, `cannot read ${file}: ${reason}`);
  }
  const found =
    what === 'certificate' ? new RegExp(CERTIFICATE.source).test(text) : PRIVATE_KEY.test(text);
  if (!found) throw new ConfigError(source, `${file} holds no PEM ${what} ("-----BEGIN …" block)`);
  return text;
}

/** Every certificate of a PEM bundle, in order (throws on one that does not parse). */
export function pemCertificates(pem: string): X509Certificate[] {
  return (pem.match(CERTIFICATE) ?? []).map((block) => new X509Certificate(block));
}
