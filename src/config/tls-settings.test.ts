// TLS settings: both files or neither, every unreadable or unusable file named with its variable
// and path, and which CA bundle the workers get. Certificates are made with openssl per run.
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCerts, type TestCerts } from '../../test/helpers/tls-certs.js';
import { loadServerConfig } from './config.js';
import { certificateProblems, holdsItsRoot, loadTlsSettings } from './tls-settings.js';

let certs: TestCerts;

beforeAll(async () => {
  certs = await makeTestCerts();
});
afterAll(async () => {
  await certs?.cleanup();
});

const pair = () => ({ HODEI_TLS_CERT: certs.certFile, HODEI_TLS_KEY: certs.keyFile });

describe('loadTlsSettings', () => {
  it('is off when neither file is set, and refuses a worker CA without TLS', () => {
    expect(loadTlsSettings({})).toBeUndefined();
    expect(loadServerConfig({}).tls).toBeUndefined();
    expect(() => loadTlsSettings({ HODEI_WORKER_CA: certs.caFile })).toThrow(
      /^HODEI_WORKER_CA: set without HODEI_TLS_CERT and HODEI_TLS_KEY/,
    );
  });

  it('needs both files, naming the missing one', () => {
    expect(() => loadTlsSettings({ HODEI_TLS_CERT: certs.certFile })).toThrow(
      /^HODEI_TLS_KEY: missing: HODEI_TLS_CERT is set, and TLS needs both/,
    );
    expect(() => loadTlsSettings({ HODEI_TLS_KEY: certs.keyFile, HODEI_TLS_CERT: ' ' })).toThrow(
      /^HODEI_TLS_CERT: missing: HODEI_TLS_KEY is set/,
    );
  });

  it('names the variable and the path of a file it cannot read or use', async () => {
    const missing = path.join(certs.dir, 'nope.pem');
    expect(() => loadTlsSettings({ ...pair(), HODEI_TLS_CERT: missing })).toThrow(
      `HODEI_TLS_CERT: cannot read ${missing}: no such file`,
    );
    const folder = path.join(certs.dir, 'folder');
    await mkdir(folder);
    expect(() => loadTlsSettings({ ...pair(), HODEI_TLS_KEY: folder })).toThrow(
      `HODEI_TLS_KEY: cannot read ${folder}: it is a directory`,
    );
    const text = path.join(certs.dir, 'text.pem');
    await writeFile(text, 'not a certificate\n');
    expect(() => loadTlsSettings({ ...pair(), HODEI_TLS_CERT: text })).toThrow(
      `HODEI_TLS_CERT: ${text} holds no PEM certificate`,
    );
    // A certificate is not a key.
    expect(() => loadTlsSettings({ ...pair(), HODEI_TLS_KEY: certs.caFile })).toThrow(
      `HODEI_TLS_KEY: ${certs.caFile} holds no PEM private key`,
    );
    expect(() => loadTlsSettings({ ...pair(), HODEI_CA: missing })).toThrow(
      `HODEI_CA: cannot read ${missing}: no such file`,
    );
  });

  it('refuses a key that is not the certificate’s', () => {
    expect(() => loadTlsSettings({ ...pair(), HODEI_TLS_KEY: certs.selfSignedKeyFile })).toThrow(
      `HODEI_TLS_KEY: ${certs.selfSignedKeyFile} is not the key of the certificate in ${certs.certFile}`,
    );
  });

  it('reads both files, with absolute paths', () => {
    const relative = path.relative(process.cwd(), certs.certFile);
    const tls = loadServerConfig({ ...pair(), HODEI_TLS_CERT: relative }).tls;
    expect(tls?.certFile).toBe(certs.certFile);
    expect(tls?.cert).toBe(readFileSync(certs.certFile, 'utf8'));
    expect(tls?.key).toContain('PRIVATE KEY');
  });

  it('gives workers HODEI_WORKER_CA, else HODEI_CA, else a self-signed certificate itself', () => {
    expect(loadTlsSettings({ ...pair(), HODEI_CA: certs.caFile })?.workerCaFile).toBe(certs.caFile);
    expect(
      loadTlsSettings({ ...pair(), HODEI_CA: certs.otherCaFile, HODEI_WORKER_CA: certs.caFile })
        ?.workerCaFile,
    ).toBe(certs.caFile);
    const selfSigned = {
      HODEI_TLS_CERT: certs.selfSignedCertFile,
      HODEI_TLS_KEY: certs.selfSignedKeyFile,
    };
    expect(loadTlsSettings(selfSigned)?.workerCaFile).toBe(certs.selfSignedCertFile);
    // Signed by a CA nobody named: the workers use the system trust store.
    expect(loadTlsSettings(pair())?.workerCaFile).toBeUndefined();
    expect(holdsItsRoot(readFileSync(certs.certFile, 'utf8'))).toBe(false);
    expect(holdsItsRoot(readFileSync(certs.caFile, 'utf8'))).toBe(true);
  });
});

describe('certificateProblems', () => {
  it('names an address the certificate does not cover, and a date it is not valid on', () => {
    const cert = readFileSync(certs.certFile, 'utf8');
    const now = new Date();
    expect(certificateProblems(cert, '127.0.0.1', now)).toEqual([]);
    expect(certificateProblems(cert, 'localhost', now)).toEqual([]);
    expect(certificateProblems(cert, '10.0.0.7', now)).toEqual([
      expect.stringMatching(
        /^the certificate does not name 10\.0\.0\.7, the address workers dial \(its names: .*IP Address:127\.0\.0\.1/,
      ),
    ]);
    const later = new Date(now.getTime() + 10 * 86_400_000);
    expect(certificateProblems(cert, '127.0.0.1', later)).toEqual([
      expect.stringMatching(/^the certificate expired on /),
    ]);
  });
});
