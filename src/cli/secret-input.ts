// The values of `--secret` options: `--secret NAME` reads the value from stdin (all of it, one
// trailing newline dropped; one such option at most, and not from a terminal), `--secret
// NAME=@FILE` reads the file (one trailing newline dropped). A value written on the command line
// itself is refused: it would show in `ps` and in shell history. Every mistake is a usage error
// naming the option, and no message ever shows a value.
import { readFile } from 'node:fs/promises';
import { isVariableName } from '../jobs/validate-job-spec.js';
import { usageError } from './cli-error.js';

export interface SecretInputIo {
  /** Whether stdin is a terminal (a value would be typed, and echoed). */
  stdinIsTty: boolean;
  readStdin(): Promise<Buffer>;
  readFile(path: string): Promise<Buffer>;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

export const processIo: SecretInputIo = {
  get stdinIsTty() {
    return process.stdin.isTTY === true;
  },
  readStdin: () => readAll(process.stdin),
  readFile: (path) => readFile(path),
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The bytes as text without one trailing newline ("\n" or "\r\n"). */
function valueOf(option: string, bytes: Buffer, from: string): string {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw usageError(`${option}: the value read from ${from} is not UTF-8 text`);
  }
  text = text.replace(/\r?\n$/, '');
  if (text === '') throw usageError(`${option}: the value read from ${from} is empty`);
  if (text.includes('\0')) {
    throw usageError(`${option}: the value read from ${from} holds a NUL character`);
  }
  return text;
}

/** The secrets the `--secret` values name, read from stdin and files. */
export async function readSecretOptions(
  values: readonly string[],
  io: SecretInputIo = processIo,
): Promise<Record<string, string>> {
  const secrets: Record<string, string> = {};
  let stdinTaken: string | undefined;
  for (const value of values) {
    const eq = value.indexOf('=');
    const name = eq < 0 ? value : value.slice(0, eq);
    const option = `--secret ${name}`;
    if (!isVariableName(name)) {
      throw usageError(
        `--secret: ${JSON.stringify(name.slice(0, 64))} is not a valid variable name (letters, digits and _, not starting with a digit)`,
      );
    }
    if (Object.hasOwn(secrets, name)) throw usageError(`${option} is given twice`);
    if (eq < 0) {
      if (stdinTaken) {
        throw usageError(
          `${option}: stdin already holds the value of ${stdinTaken}; give the others as NAME=@FILE`,
        );
      }
      if (io.stdinIsTty) {
        throw usageError(
          `${option} reads the value from stdin, which is a terminal: pipe it in (e.g. printf %s "$VALUE" | hodei run --secret ${name} …) or use --secret ${name}=@FILE`,
        );
      }
      stdinTaken = name;
      secrets[name] = valueOf(option, await io.readStdin(), 'stdin');
      continue;
    }
    const source = value.slice(eq + 1);
    if (!source.startsWith('@') || source.length === 1) {
      throw usageError(
        `${option}=… takes @FILE: a value on the command line shows in ps and shell history (use --secret ${name} to read it from stdin, or --secret ${name}=@FILE)`,
      );
    }
    const path = source.slice(1);
    let bytes: Buffer;
    try {
      bytes = await io.readFile(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const why =
        code === 'ENOENT'
          ? 'no such file'
          : code === 'EACCES'
            ? 'permission denied'
            : code === 'EISDIR'
              ? 'it is a directory'
              : (error as Error).message;
      throw usageError(`${option}: cannot read ${path}: ${why}`);
    }
    secrets[name] = valueOf(option, bytes, path);
  }
  return secrets;
}
