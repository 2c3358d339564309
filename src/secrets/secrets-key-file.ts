// Where the server's secrets key comes from: HODEI_SECRETS_KEY when set, else the key file
// (HODEI_SECRETS_KEY_FILE, by default <data dir>/secrets.key), made at the first start with mode
// 0600 when it does not exist. The file is created atomically (a fully written temporary file
// hard-linked into place), so two servers starting together on one directory end up with one key.
import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../shared/errors.js';
import { SECRETS_KEY_BYTES } from './secret-box.js';
import { decodeSecretsKey, encodeSecretsKey } from './secrets-key.js';

export interface LoadedSecretsKey {
  key: Buffer;
  /** Where it came from: the variable's name or the file's path. */
  source: string;
  /** The file was made by this call. */
  created: boolean;
  /** The file can be read by others than its owner (a warning for the log). */
  readableByOthers: boolean;
}

function isErrno(error: unknown, code: string): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === code;
}

async function readKeyFile(file: string): Promise<{ key: Buffer; readableByOthers: boolean }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(
      'HODEI_SECRETS_KEY_FILE',
      `cannot read the secrets key file ${file}: ${(error as Error).message}`,
    );
  }
  const key = decodeSecretsKey(text, `HODEI_SECRETS_KEY_FILE (${file})`);
  const { mode } = await stat(file);
  return { key, readableByOthers: (mode & 0o077) !== 0 };
}

/** Makes the key file with a new random key unless one exists; returns whether it made it. */
async function createKeyFile(file: string): Promise<boolean> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temp, encodeSecretsKey(randomBytes(SECRETS_KEY_BYTES)), {
    mode: 0o600,
    flag: 'wx',
  });
  try {
    await link(temp, file);
    return true;
  } catch (error) {
    if (isErrno(error, 'EEXIST')) return false; // another process made it first: use theirs
    throw new ConfigError(
      'HODEI_SECRETS_KEY_FILE',
      `cannot create the secrets key file ${file}: ${(error as Error).message}`,
    );
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

/** The secrets key from the setting, else from the key file (made when absent). */
export async function loadSecretsKey(options: {
  /** HODEI_SECRETS_KEY, when set. */
  keyText: string | undefined;
  /** The key file's path (used only without keyText). */
  keyFile: string;
}): Promise<LoadedSecretsKey> {
  if (options.keyText !== undefined) {
    return {
      key: decodeSecretsKey(options.keyText, 'HODEI_SECRETS_KEY'),
      source: 'HODEI_SECRETS_KEY',
      created: false,
      readableByOthers: false,
    };
  }
  const file = path.resolve(options.keyFile);
  let created = false;
  try {
    await stat(file);
  } catch (error) {
    if (!isErrno(error, 'ENOENT')) {
      throw new ConfigError(
        'HODEI_SECRETS_KEY_FILE',
        `cannot read the secrets key file ${file}: ${(error as Error).message}`,
      );
    }
    created = await createKeyFile(file);
  }
  return { ...(await readKeyFile(file)), source: file, created };
}
