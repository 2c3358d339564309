// `--secret` values: from stdin or a file, one trailing newline dropped, and every mistake a
// usage error that names the option and never shows a value.
import { describe, expect, it } from 'vitest';
import { readSecretOptions, type SecretInputIo } from './secret-input.js';

function io(options: { stdin?: string; tty?: boolean; files?: Record<string, string> }) {
  let stdinReads = 0;
  const fake: SecretInputIo & { stdinReads: () => number } = {
    stdinIsTty: options.tty ?? false,
    readStdin: () => {
      stdinReads += 1;
      return Promise.resolve(Buffer.from(options.stdin ?? ''));
    },
    readFile: (path) => {
      const text = options.files?.[path];
      if (text === undefined) {
        return Promise.reject(Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' }));
      }
      return Promise.resolve(Buffer.from(text));
    },
    stdinReads: () => stdinReads,
  };
  return fake;
}

async function failure(values: string[], from: SecretInputIo): Promise<string> {
  try {
    await readSecretOptions(values, from);
  } catch (error) {
    return (error as Error).message;
  }
  return 'no error';
}

describe('readSecretOptions', () => {
  it('reads NAME from stdin and NAME=@FILE from the file, dropping one trailing newline', async () => {
    const from = io({ stdin: 'hunter22\n', files: { '/k': 'from-file\r\n', '/two': 'a\n\n' } });
    expect(await readSecretOptions(['TOKEN', 'KEY=@/k', 'TWO=@/two'], from)).toEqual({
      TOKEN: 'hunter22',
      KEY: 'from-file',
      TWO: 'a\n',
    });
    expect(from.stdinReads()).toBe(1);
  });

  it('refuses a value on the command line, without echoing it', async () => {
    const message = await failure(['TOKEN=hunter22'], io({}));
    expect(message).toMatch(/^--secret TOKEN=… takes @FILE: a value on the command line shows/);
    expect(message).not.toContain('hunter22');
  });

  it('says what is wrong with a name, a file, stdin or a value', async () => {
    expect(await failure(['1X'], io({ stdin: 'v' }))).toMatch(/"1X" is not a valid variable name/);
    expect(await failure(['A=@/missing'], io({}))).toBe(
      '--secret A: cannot read /missing: no such file',
    );
    expect(await failure(['A'], io({ tty: true }))).toMatch(/stdin, which is a terminal/);
    expect(await failure(['A', 'B'], io({ stdin: 'v' }))).toMatch(
      /--secret B: stdin already holds the value of A/,
    );
    expect(await failure(['A'], io({ stdin: '\n' }))).toBe(
      '--secret A: the value read from stdin is empty',
    );
    expect(await failure(['A=@/k', 'A=@/k'], io({ files: { '/k': 'v' } }))).toBe(
      '--secret A is given twice',
    );
    expect(await failure(['A=@'], io({}))).toMatch(/takes @FILE/);
  });

  it('refuses bytes that are not UTF-8', async () => {
    const from: SecretInputIo = {
      ...io({}),
      readFile: () => Promise.resolve(Buffer.from([0xff, 0xfe])),
    };
    expect(await failure(['A=@/bin'], from)).toBe(
      '--secret A: the value read from /bin is not UTF-8 text',
    );
  });
});
