// Certificates made for one test run with the openssl CLI in a temporary directory: a CA, a
// server certificate it signs for 127.0.0.1 and localhost, a self-signed server certificate, and
// a second, unrelated CA (what a client that trusts the wrong CA holds). Short-lived (2 days)
// EC P-256 keys, so a run makes them in well under a second.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestCerts {
  dir: string;
  /** The CA that signed certFile. */
  caFile: string;
  /** Server certificate signed by caFile; subjectAltName IP:127.0.0.1, DNS:localhost. */
  certFile: string;
  keyFile: string;
  /** A self-signed server certificate (also for 127.0.0.1 and localhost) and its key. */
  selfSignedCertFile: string;
  selfSignedKeyFile: string;
  /** A CA that signed nothing here. */
  otherCaFile: string;
  cleanup(): Promise<void>;
}

const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
const SERVER_NAMES = 'subjectAltName=IP:127.0.0.1,DNS:localhost';

async function openssl(dir: string, args: string[]): Promise<void> {
  try {
    await run('openssl', args, { cwd: dir });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`openssl ${args[0]} failed: ${stderr || String(error)}`);
  }
}

async function makeCa(dir: string, name: string): Promise<void> {
  await openssl(dir, [
    'req',
    '-x509',
    ...NEW_KEY,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.pem`,
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

export async function makeTestCerts(): Promise<TestCerts> {
  const dir = await mkdtemp(path.join(tmpdir(), 'hodei-tls-'));
  const file = (name: string) => path.join(dir, name);
  await Promise.all([makeCa(dir, 'ca'), makeCa(dir, 'other-ca')]);
  await writeFile(
    file('server.ext'),
    `${SERVER_NAMES}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`,
  );
  await openssl(dir, [
    'req',
    ...NEW_KEY,
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=localhost',
  ]);
  await openssl(dir, [
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-set_serial',
    '0x1001',
    '-days',
    '2',
    '-extfile',
    'server.ext',
    '-out',
    'server.pem',
  ]);
  await openssl(dir, [
    'req',
    '-x509',
    ...NEW_KEY,
    '-keyout',
    'self-signed.key',
    '-out',
    'self-signed.pem',
    '-days',
    '2',
    '-subj',
    '/CN=localhost',
    '-addext',
    SERVER_NAMES,
  ]);
  return {
    dir,
    caFile: file('ca.pem'),
    certFile: file('server.pem'),
    keyFile: file('server.key'),
    selfSignedCertFile: file('self-signed.pem'),
    selfSignedKeyFile: file('self-signed.key'),
    otherCaFile: file('other-ca.pem'),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
