// The server's TLS settings, read and checked once at start: the certificate and key it serves
// on its one port (HODEI_TLS_CERT and HODEI_TLS_KEY, both or neither) and the CA bundle the workers
// it starts verify it with (HODEI_WORKER_CA, else HODEI_CA, else the certificate file itself when
// it holds its own root, as a self-signed certificate does). Every problem is a ConfigError
// naming the variable and the file.
import path from 'node:path';
import { createSecureContext } from 'node:tls';
import { ConfigError, errorMessage } from '../shared/errors.js';
import { pemCertificates, readPemFile } from '../shared/pem.js';

export interface TlsSettings {
  /** Absolute path of the PEM certificate (chain) the server presents. */
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
  /** Absolute path of the PEM CA bundle given to the workers this server starts (HODEI_CA in
   * their environment); undefined: they use the system trust store. */
  readonly workerCaFile: string | undefined;
}

type Env = Record<string, string | undefined>;

function given(env: Env, name: string): string | undefined {
  const raw = env[name]?.trim();
  return raw ? raw : undefined;
}

/** Whether a PEM chain holds its own root (a self-signed certificate), so it can serve as the
 * CA bundle that verifies itself. */
export function holdsItsRoot(pem: string): boolean {
  return pemCertificates(pem).some((c) => c.checkIssued(c) && c.verify(c.publicKey));
}

/** The TLS settings, or undefined when neither HODEI_TLS_CERT nor HODEI_TLS_KEY is set. */
export function loadTlsSettings(env: Env): TlsSettings | undefined {
  const certGiven = given(env, 'HODEI_TLS_CERT');
  const keyGiven = given(env, 'HODEI_TLS_KEY');
  const workerCaGiven = given(env, 'HODEI_WORKER_CA');
  if (!certGiven && !keyGiven) {
    if (workerCaGiven) {
      throw new ConfigError(
        'HODEI_WORKER_CA',
        'set without HODEI_TLS_CERT and HODEI_TLS_KEY: workers verify the server only when it serves TLS',
      );
    }
    return undefined;
  }
  if (!certGiven) {
    throw new ConfigError(
      'HODEI_TLS_CERT',
      'missing: HODEI_TLS_KEY is set, and TLS needs both the certificate (--tls-cert) and its key (--tls-key)',
    );
  }
  if (!keyGiven) {
    throw new ConfigError(
      'HODEI_TLS_KEY',
      'missing: HODEI_TLS_CERT is set, and TLS needs both the certificate (--tls-cert) and its key (--tls-key)',
    );
  }
  const certFile = path.resolve(certGiven);
  const keyFile = path.resolve(keyGiven);
  const cert = readPemFile('HODEI_TLS_CERT', certFile, 'certificate');
  const key = readPemFile('HODEI_TLS_KEY', keyFile, 'private key');
  try {
    pemCertificates(cert);
  } catch (error) {
    throw new ConfigError('HODEI_TLS_CERT', `${certFile}: ${errorMessage(error)}`);
  }
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    const message = errorMessage(error);
    throw new ConfigError(
      'HODEI_TLS_KEY',
      /mismatch/i.test(message)
        ? `${keyFile} is not the key of the certificate in ${certFile}`
        : `${keyFile} cannot be used with ${certFile}: ${message}`,
    );
  }
  return { certFile, keyFile, cert, key, workerCaFile: workerCa(env, certFile, cert) };
}

/** Which CA bundle the workers get: HODEI_WORKER_CA, else HODEI_CA, else the certificate file
 * when it holds its root; else none (a certificate from a CA in the system trust store). */
function workerCa(env: Env, certFile: string, cert: string): string | undefined {
  for (const variable of ['HODEI_WORKER_CA', 'HODEI_CA']) {
    const file = given(env, variable);
    if (file) {
      const absolute = path.resolve(file);
      readPemFile(variable, absolute, 'certificate');
      return absolute;
    }
  }
  return holdsItsRoot(cert) ? certFile : undefined;
}

/** What is wrong with serving `cert` to clients that dial `host` at `now` (empty: nothing). */
export function certificateProblems(cert: string, host: string, now: Date): string[] {
  const [leaf] = pemCertificates(cert);
  if (!leaf) return ['the certificate file holds no certificate'];
  const problems: string[] = [];
  const bare = host.replace(/^\[|\]$/g, '');
  const named = /^[\d.]+$|:/.test(bare) ? leaf.checkIP(bare) : leaf.checkHost(bare);
  if (named === undefined) {
    problems.push(
      `the certificate does not name ${bare}, the address workers dial (its names: ${leaf.subjectAltName ?? leaf.subject})`,
    );
  }
  if (new Date(leaf.validTo) < now) problems.push(`the certificate expired on ${leaf.validTo}`);
  if (new Date(leaf.validFrom) > now) {
    problems.push(`the certificate is not valid before ${leaf.validFrom}`);
  }
  return problems;
}
