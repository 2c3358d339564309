// The `hodei` binary as a user meets it, without a server: help, usage errors (exit 2, nothing
// sent) and an unreachable server (exit 1, one sentence, no stack trace). Runs dist/ (npm test
// builds first).
import { execFile, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/hodei.js');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function hodei(args: string[], env: Record<string, string> = {}): Promise<Result> {
  const base = { ...process.env };
  delete base.HODEI_URL;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...base, ...env }, timeout: 20_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const NO_STACK = /\n\s+at |Error:/;

describe('hodei CLI usage', () => {
  it('--help lists every command', async () => {
    const { code, stdout } = await hodei(['--help']);
    expect(code).toBe(0);
    for (const command of ['server', 'dev', 'worker', 'run', 'job', 'workers', 'dlq']) {
      expect(stdout).toMatch(new RegExp(`^\\s+${command}\\b`, 'm'));
    }
    const job = await hodei(['job', '--help']);
    for (const sub of ['submit', 'get', 'list', 'cancel', 'logs']) {
      expect(job.stdout).toMatch(new RegExp(`^\\s+${sub}\\b`, 'm'));
    }
    const dlq = await hodei(['dlq', '--help']);
    for (const sub of ['list', 'show', 'replay', 'discard']) {
      expect(dlq.stdout).toMatch(new RegExp(`^\\s+${sub}\\b`, 'm'));
    }
  });

  it('run without a command is a usage error (exit 2)', async () => {
    const { code, stderr } = await hodei(['run', '--url', 'http://127.0.0.1:1']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/missing command/);
    expect(stderr).not.toMatch(NO_STACK);
  });

  it('run --env FOO names --env, exits 2 and does not call the server', async () => {
    // Port 1 has no server: reaching it would be exit 1 with "cannot reach", not this.
    const { code, stderr } = await hodei([
      '--url',
      'http://127.0.0.1:1',
      'run',
      '--env',
      'FOO',
      '--',
      'true',
    ]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--env/);
    expect(stderr).not.toMatch(/cannot reach/);
  });

  it('dlq with a bad id, state or limit names what was wrong, exits 2 and does not call the server', async () => {
    // Port 1 has no server: reaching it would be exit 1 with "cannot reach", not this.
    const url = ['--url', 'http://127.0.0.1:1'];
    for (const [args, message] of [
      [['dlq', 'show', 'abc'], /^hodei: <id> expects a dead letter id, .*got "abc"\n$/],
      [['dlq', 'replay', '0'], /^hodei: <id> expects a dead letter id, .*got "0"\n$/],
      [['dlq', 'discard', '-3'], /^hodei: <id> expects a dead letter id, .*got "-3"\n$/],
      [['dlq', 'list', '--state', 'bogus'], /^hodei: --state: unknown dead letter state "bogus"/],
      [['dlq', 'list', '--limit', '0'], /^hodei: --limit expects a whole number from 1 to 500/],
      [['dlq', 'list', '--all', '--state', 'pending'], /^hodei: --all and --state cannot be used/],
    ] as const) {
      const { code, stdout, stderr } = await hodei([...url, ...args]);
      expect(code).toBe(2);
      expect(stdout).toBe('');
      expect(stderr).toMatch(message);
      expect(stderr).not.toMatch(NO_STACK);
    }
    expect((await hodei([...url, 'dlq', 'replay'])).code).toBe(2);
  });

  it('an unknown option or command is a usage error', async () => {
    expect((await hodei(['run', '--bogus', '--', 'true'])).code).toBe(2);
    expect((await hodei(['frobnicate'])).code).toBe(2);
    expect((await hodei(['job', 'get'])).code).toBe(2);
  });

  it('job get against a port with no server says it cannot reach it, exit 1, no stack trace', async () => {
    const { code, stdout, stderr } = await hodei([
      'job',
      'get',
      'X',
      '--url',
      'http://127.0.0.1:1',
    ]);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toBe(
      'hodei: cannot reach the Hodei server at http://127.0.0.1:1: is it running? (start it with "npx hodei dev")\n',
    );
  });

  it('takes the server address from HODEI_URL', async () => {
    const { code, stderr } = await hodei(['workers', 'list'], { HODEI_URL: 'http://127.0.0.1:1/' });
    expect(code).toBe(1);
    expect(stderr).toMatch(/cannot reach the Hodei server at http:\/\/127\.0\.0\.1:1:/);
  });

  it('job logs --follow does not wait for a server that was never there', async () => {
    const started = Date.now();
    const { code, stderr } = await hodei(['job', 'logs', 'X', '--follow'], {
      HODEI_URL: 'http://127.0.0.1:1',
    });
    expect(code).toBe(1);
    expect(stderr).toMatch(/cannot reach/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('worker without its environment fails with a clear sentence', async () => {
    const { code, stderr } = await hodei(['worker'], { HODEI_URL: 'http://127.0.0.1:1' });
    expect(code).toBe(2);
    expect(stderr).toMatch(/needs HODEI_WORKER_ID in its environment/);
    expect(stderr).not.toMatch(NO_STACK);
  });

  it('worker run through the CLI (a flag before it) fails the same way', async () => {
    const { code, stderr } = await hodei(['--url', 'http://127.0.0.1:1', 'worker']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/needs HODEI_WORKER_ID in its environment/);
    expect(stderr).not.toMatch(NO_STACK);
  });

  it('the worker bundle runs on its own: one file, without node_modules or the rest of dist', () => {
    // A bare `hodei worker` runs dist/worker.cjs (decision 0022); alone in an empty folder it must
    // still load everything it needs, and reach the point where it asks for its password.
    const dir = mkdtempSync(path.join(tmpdir(), 'hodei-worker-bundle-'));
    try {
      copyFileSync(path.join(ROOT, 'dist/worker.cjs'), path.join(dir, 'worker.cjs'));
      const { status, stderr } = spawnSync(process.execPath, [path.join(dir, 'worker.cjs')], {
        cwd: dir,
        env: {
          PATH: process.env.PATH,
          HODEI_URL: 'http://127.0.0.1:1',
          HODEI_WORKER_ID: '00000000-0000-4000-8000-000000000001',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(stderr).toMatch(/one-time password from the first line of stdin.*stdin is empty/);
      expect(status).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the worker bundle loads with the code cache the build made, and without one', () => {
    // Decision 0024: V8 takes the cache only for the same source, Node and flags; a cache it
    // rejects (a stale one, another Node's) costs speed, never the worker. Checked in a plain
    // `node`, as a provider starts a worker (the test runner's own flags would not match).
    const dir = mkdtempSync(path.join(tmpdir(), 'hodei-worker-cache-'));
    try {
      const stale = path.join(dir, 'worker.cache');
      writeFileSync(stale, readFileSync(path.join(ROOT, 'dist/worker.cache')).subarray(0, 1000));
      const probe = [
        `import { loadWorkerBundle, WORKER_BUNDLE } from ${JSON.stringify(path.join(ROOT, 'bin/worker-bundle.js'))};`,
        'const seen = (r) => [r.cacheUsed, typeof r.exports.main];',
        'console.log(JSON.stringify([',
        '  seen(loadWorkerBundle()),',
        `  seen(loadWorkerBundle(WORKER_BUNDLE, ${JSON.stringify(stale)})),`,
        `  seen(loadWorkerBundle(WORKER_BUNDLE, ${JSON.stringify(path.join(dir, 'absent'))})),`,
        ']));',
        'process.exit(0);',
      ].join('\n');
      const { stdout, stderr } = spawnSync(process.execPath, ['--input-type=module', '-e', probe], {
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(stderr).toBe('');
      expect(JSON.parse(stdout)).toEqual([
        [true, 'function'],
        [false, 'function'],
        [false, 'function'],
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('worker without a one-time password on stdin fails with a clear sentence', () => {
    // stdin is /dev/null: empty at once. The password is never taken from the environment.
    const { status, stderr } = spawnSync(process.execPath, [BIN, 'worker'], {
      env: {
        ...process.env,
        HODEI_URL: 'http://127.0.0.1:1',
        HODEI_WORKER_ID: '00000000-0000-4000-8000-000000000001',
        HODEI_WORKER_OTP: 'ignored',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(status).toBe(2);
    expect(stderr).toMatch(/one-time password from the first line of stdin.*stdin is empty/);
    expect(stderr).not.toMatch(NO_STACK);
  });
});
