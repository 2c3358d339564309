// The process provider with real children: each worker runs under its reaper, which leads a
// process group of its own; the worker gets a minimal environment and its one-time password on
// stdin only; destroy takes the whole tree (including job groups the worker detached), with the
// reaper and without it; a worker that exits by itself is reported to onExit.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createProcessProvider } from '../../src/providers/process/process-provider.js';
import { findReaper, isReaperCommandLine } from '../../src/providers/process/reaper.js';
import { INHERITED_VARIABLES } from '../../src/providers/process/worker-environment.js';
import type { Provider, WorkerExit } from '../../src/providers/provider.js';
import { silentLogger } from '../../src/shared/logger.js';
import { isAlive, waitFor } from '../helpers/procs.js';

const IDLE = [process.execPath, '-e', 'setInterval(() => {}, 1000)'];
const dir = mkdtempSync(join(tmpdir(), 'hodei-provider-'));
const hasReaper = 'perl' in findReaper();

/** A worker that writes the first line of its stdin to `file`, then idles. */
function readsStdin(file: string): string[] {
  const script = `
    require('node:readline').createInterface({ input: process.stdin }).once('line', (line) => {
      require('node:fs').writeFileSync(${JSON.stringify(file)}, line);
    });
    setInterval(() => {}, 1000);
  `;
  return [process.execPath, '-e', script];
}

/** A worker that starts a detached "job" (its own group, same environment) and writes its pid. */
function withGrandchild(pidFile: string, exitAfterMs?: number): string[] {
  const script = `
    const { spawn } = require('node:child_process');
    const job = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], {
      detached: true, stdio: 'ignore',
    });
    job.unref();
    require('node:fs').writeFileSync(${JSON.stringify(pidFile)}, String(job.pid));
    ${exitAfterMs === undefined ? 'setInterval(() => {}, 1000);' : `setTimeout(() => process.exit(0), ${exitAfterMs});`}
  `;
  return [process.execPath, '-e', script];
}

function launchSpec() {
  return {
    workerId: randomUUID(),
    otp: randomUUID(),
    serverUrl: 'http://127.0.0.1:1',
    correlationId: randomUUID(),
  };
}

/** The reaper's only child: the worker process itself (once the reaper has forked it). */
async function workerUnder(reaper: number): Promise<number> {
  const children = await waitFor(
    'the reaper to start the worker',
    () => readFileSync(`/proc/${reaper}/task/${reaper}/children`, 'utf8').trim() || undefined,
  );
  expect(children.split(' ')).toHaveLength(1);
  return Number(children);
}

function readEnvironment(pid: number): Map<string, string> {
  const entries = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
  return new Map(entries.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
}

function processGroup(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

const strays: number[] = [];
const providers: Provider[] = [];

function provider(
  command: string[],
  logger = silentLogger(),
  options: { reaper?: boolean } = {},
): Provider {
  const made = createProcessProvider({
    command,
    logger,
    maxWorkers: 4,
    env: { HODEI_X: 'y' },
    ...options,
  });
  providers.push(made);
  return made;
}

afterEach(async () => {
  for (const p of providers.splice(0)) {
    for (const id of await p.list()) await p.destroy(id);
    await p.close();
  }
  for (const pid of strays.splice(0)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('process provider', () => {
  it.runIf(hasReaper)(
    'create starts the worker under its reaper, leading a group; exists and list see it',
    async () => {
      const p = provider(IDLE);
      const { externalId } = await p.create(launchSpec());
      const pid = Number(externalId);
      expect(await p.exists(externalId)).toBe(true);
      expect(await p.list()).toEqual([externalId]);
      expect(processGroup(pid)).toBe(pid);
      expect(isReaperCommandLine(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0'))).toBe(
        true,
      );
      const worker = await workerUnder(pid);
      expect(processGroup(worker)).toBe(pid);
      // Until the reaper's forked child has exec'd the worker, its environment is the reaper's.
      const env = await waitFor('the worker to be exec’d', () => {
        const seen = readEnvironment(worker);
        return seen.has('HODEI_REAPER_PID') ? seen : undefined;
      });
      expect(env.get('HODEI_REAPER_PID')).toBe(externalId);
      expect(env.get('HODEI_REAPER_SUBREAPER')).toBe('1');
      expect(await p.capacity()).toEqual({ maxWorkers: 4 });
    },
  );

  it("the worker's environment is a small base, never the server's; its OTP comes on stdin", async () => {
    const marker = `HODEI_TEST_SERVER_ONLY_${randomUUID().slice(0, 8)}`;
    process.env[marker] = 'server secret';
    try {
      const otpFile = join(dir, `${randomUUID()}.otp`);
      const p = provider(readsStdin(otpFile));
      const spec = launchSpec();
      const { externalId } = await p.create(spec);
      expect(await waitFor('the OTP read from stdin', () => readPid(otpFile))).toBe(spec.otp);
      const worker = hasReaper ? await workerUnder(Number(externalId)) : Number(externalId);
      for (const pid of new Set([Number(externalId), worker])) {
        const env = readEnvironment(pid);
        expect(env.get('HODEI_URL')).toBe(spec.serverUrl);
        expect(env.get('HODEI_WORKER_ID')).toBe(spec.workerId);
        expect(env.get('HODEI_CORRELATION_ID')).toBe(spec.correlationId);
        expect(env.get('HODEI_X')).toBe('y');
        expect(env.get('PATH')).toBe(process.env.PATH);
        expect(env.has(marker)).toBe(false);
        expect(env.has('HODEI_WORKER_OTP')).toBe(false);
        expect(readFileSync(`/proc/${pid}/environ`, 'utf8')).not.toContain(spec.otp);
        expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).not.toContain(spec.otp);
      }
      // Beyond the platform's own: only the inherited base, and the span that started it.
      const names = [...readEnvironment(worker).keys()].filter(
        (n) => !n.startsWith('HODEI_') && n !== 'TRACEPARENT',
      );
      expect(names.every((n) => (INHERITED_VARIABLES as readonly string[]).includes(n))).toBe(true);
      expect(readEnvironment(worker).get('TRACEPARENT')).toMatch(
        /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/,
      );
    } finally {
      delete process.env[marker];
    }
  });

  it.each([
    ['with', true],
    ['without', false],
  ])(
    'destroy %s the reaper kills the worker and the detached job group it started; twice is fine',
    async (_, reaper) => {
      const pidFile = join(dir, `${randomUUID()}.pid`);
      const p = provider(withGrandchild(pidFile), silentLogger(), { reaper });
      const { externalId } = await p.create(launchSpec());
      const job = Number(await waitFor('grandchild pid', () => readPid(pidFile)));
      strays.push(job);
      expect(processGroup(job)).toBe(job); // a group of its own: killing the worker's misses it
      expect(isAlive(job)).toBe(true);

      await p.destroy(externalId);
      expect(await p.exists(externalId)).toBe(false);
      expect(await p.list()).toEqual([]);
      expect(isAlive(Number(externalId))).toBe(false);
      await waitFor('job gone', () => !isAlive(job) || undefined, 2000, 10);
      await p.destroy(externalId);
      await p.destroy('999999999');
    },
  );

  it('onExit reports a worker that exits by itself, and its leftover job is killed', async () => {
    const pidFile = join(dir, `${randomUUID()}.pid`);
    const p = provider(withGrandchild(pidFile, 300));
    const exits: WorkerExit[] = [];
    p.onExit((exit) => exits.push(exit));
    const { externalId } = await p.create(launchSpec());
    const job = Number(await waitFor('grandchild pid', () => readPid(pidFile)));
    strays.push(job);
    const exit = await waitFor('onExit', () => exits[0], 5000, 10);
    expect(exit).toEqual({ externalId, code: 0, signal: null });
    expect(await p.exists(externalId)).toBe(false);
    await waitFor('job gone', () => !isAlive(job) || undefined, 2000, 10);
  });

  it('onExit carries the exit code; an unsubscribed listener hears nothing', async () => {
    const p = provider([process.execPath, '-e', 'process.exit(3)']);
    const exits: WorkerExit[] = [];
    const ignored: WorkerExit[] = [];
    p.onExit((exit) => exits.push(exit));
    const unsubscribe = p.onExit((exit) => ignored.push(exit));
    unsubscribe();
    const { externalId } = await p.create(launchSpec());
    expect(await waitFor('onExit', () => exits[0], 5000, 10)).toEqual({
      externalId,
      code: 3,
      signal: null,
    });
    expect(ignored).toEqual([]);
  });

  it("the worker's output reaches the logger, line by line, with its workerId", async () => {
    const lines: Array<{ workerId?: string; line?: string; stream?: string }> = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const text of chunk.toString().split('\n').filter(Boolean)) {
          lines.push(JSON.parse(text) as (typeof lines)[number]);
        }
        done();
      },
    });
    const p = provider(
      [process.execPath, '-e', "console.log('one\\ntwo'); console.error('three')"],
      pino({ level: 'info' }, sink),
    );
    const spec = launchSpec();
    await p.create(spec);
    await waitFor('output', () => lines.filter((l) => l.line).length >= 3 || undefined, 5000);
    const output = lines.filter((l) => l.line !== undefined);
    expect(output.map((l) => [l.stream, l.line])).toEqual(
      expect.arrayContaining([
        ['stdout', 'one'],
        ['stdout', 'two'],
        ['stderr', 'three'],
      ]),
    );
    expect(output.every((l) => l.workerId === spec.workerId)).toBe(true);
  });

  it("the agent's JSON log lines are relayed at their own level with their fields", async () => {
    const entries: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const text of chunk.toString().split('\n').filter(Boolean)) {
          entries.push(JSON.parse(text) as Record<string, unknown>);
        }
        done();
      },
    });
    const agentLine = JSON.stringify({ level: 50, msg: 'stream failed; exiting', jobId: 'j1' });
    const p = provider(
      [process.execPath, '-e', `console.error(${JSON.stringify(agentLine)})`],
      pino({ level: 'info' }, sink),
    );
    await p.create(launchSpec());
    const entry = await waitFor('relayed line', () =>
      entries.find((e) => e.msg === 'stream failed; exiting'),
    );
    expect(entry.level).toBe(50);
    expect(entry.agent).toEqual({ level: 50, jobId: 'j1' });
  });

  it('destroy of a pid it did not start that is not a worker leaves that process alone', async () => {
    const p = provider(IDLE);
    const other = spawn(IDLE[0]!, IDLE.slice(1), { detached: true, stdio: 'ignore' });
    strays.push(other.pid!);
    await p.destroy(String(other.pid));
    expect(isAlive(other.pid!)).toBe(true);
  });

  it("destroy finds a previous server's worker by its environment and kills it", async () => {
    const previous = createProcessProvider({ command: IDLE, logger: silentLogger() });
    const { externalId } = await previous.create(launchSpec());
    strays.push(Number(externalId));
    await previous.close();
    const p = provider(IDLE);
    await p.destroy(externalId);
    await waitFor('worker gone', () => !isAlive(Number(externalId)) || undefined, 2000, 10);
  });
});

function readPid(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8') || undefined;
  } catch {
    return undefined;
  }
}
