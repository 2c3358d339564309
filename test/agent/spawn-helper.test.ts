// The agent's spawn helper (src/agent/spawn-helper.ts) with real processes: commands started
// through it keep what spawn gave them (argv, exact environment, working directory, exit codes,
// signals, start failures, every byte of output, cancel), and nothing outlives the helper or the
// agent that owns it.
import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { runCommand, type RunEnd, type RunSpec } from '../../src/agent/command-runner.js';
import { SPAWN_HELPER_NAME, useSpawnHelper } from '../../src/agent/spawn-helper.js';
import { isAlive, listProcs, waitFor } from '../helpers/procs.js';

const dir = mkdtempSync(path.join(tmpdir(), 'hodei-spawn-helper-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => useSpawnHelper(true));

const PATH = process.env.PATH ?? '/usr/bin:/bin';

function spec(command: string, args: string[] = [], more: Partial<RunSpec> = {}): RunSpec {
  return { command, args, env: { PATH }, workingDir: '', timeoutMs: 0, ...more };
}

async function run(
  s: RunSpec,
): Promise<{ end: RunEnd; stdout: string; stderr: string; pid: number | undefined }> {
  const out = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
  const command = runCommand(s, (stream, data) => out[stream].push(data));
  const pid = await command.started;
  const end = await command.done;
  return {
    end,
    pid,
    stdout: Buffer.concat(out.stdout).toString(),
    stderr: Buffer.concat(out.stderr).toString(),
  };
}

function helpers(): number[] {
  return listProcs()
    .filter((p) => p.state !== 'Z' && p.cmdline.includes(SPAWN_HELPER_NAME))
    .map((p) => p.pid);
}

function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

describe.runIf(process.platform === 'linux')('the spawn helper', () => {
  it('starts the command as its own child, with exactly the given argv, environment and directory', async () => {
    const out: Buffer[] = [];
    const command = runCommand(
      spec('sh', ['-c', 'sleep 0.3; printf "%s|" "$0" "$1" "$2"; echo; pwd', 'a b', "c'd", ''], {
        workingDir: dir,
      }),
      (_stream, data) => out.push(data),
    );
    const pid = await command.started;
    expect(pid).toBeGreaterThan(0);
    // Its parent is the helper, and it leads a group of its own.
    expect(helpers()).toContain(parentOf(pid!));
    expect(process.kill(-pid!, 0)).toBe(true);
    expect(await command.done).toEqual({ outcome: 'EXITED', exitCode: 0, signal: '' });
    expect(Buffer.concat(out).toString()).toBe(`a b|c'd||\n${dir}\n`);
    // The environment is exactly the one given, nothing of the agent's or the helper's.
    const env = { PATH, ONE: '1', 'WITH SPACE': 'x=y', EMPTY: '', UTF: 'ñ✓' };
    const printed = await run(spec('env', ['-0'], { env }));
    expect(
      printed.stdout
        .split('\0')
        .filter((line) => line !== '')
        .sort(),
    ).toEqual(
      Object.entries(env)
        .map(([key, value]) => `${key}=${value}`)
        .sort(),
    );
  });

  it('reports exit codes, signals by name, and start failures as spawn did', async () => {
    expect((await run(spec('sh', ['-c', 'echo out; echo err >&2; exit 3']))).end).toEqual({
      outcome: 'EXITED',
      exitCode: 3,
      signal: '',
    });
    expect((await run(spec('sh', ['-c', 'kill -ABRT $$']))).end).toEqual({
      outcome: 'EXITED',
      exitCode: 134,
      signal: 'SIGABRT',
    });
    const missing = await run(spec('no-such-command-here'));
    expect(missing.end).toEqual({
      outcome: 'START_FAILED',
      exitCode: 127,
      error: 'command not found: no-such-command-here',
    });
    expect(missing.pid).toBeUndefined();
    const notExecutable = path.join(dir, 'plain.txt');
    writeFileSync(notExecutable, 'echo hi\n');
    chmodSync(notExecutable, 0o644);
    expect((await run(spec(notExecutable))).end).toEqual({
      outcome: 'START_FAILED',
      exitCode: 126,
      error: `permission denied: ${notExecutable}`,
    });
  });

  it('loses no output of commands that end at once, and keeps stdout and stderr apart', async () => {
    for (let i = 0; i < 100; i += 1) {
      const result = await run(spec('sh', ['-c', `echo ${i}; echo e${i} >&2`]));
      expect([result.stdout, result.stderr]).toEqual([`${i}\n`, `e${i}\n`]);
    }
    const nothing = await run(spec('true'));
    expect([nothing.stdout, nothing.stderr, nothing.end.outcome]).toEqual(['', '', 'EXITED']);
  });

  it('passes large output through unchanged, four commands at once', async () => {
    const results = await Promise.all([1, 2, 3, 4].map(() => run(spec('seq', ['1', '200000']))));
    const expected = Array.from({ length: 200000 }, (_, i) => `${i + 1}\n`).join('');
    for (const result of results) expect(result.stdout === expected).toBe(true);
  });

  it('cancels a command asked to stop before it had even started', async () => {
    const tag = String(randomInt(100_000_000, 999_999_999));
    const command = runCommand(spec('sleep', [`300.${tag}`]), () => undefined);
    command.cancel();
    expect(await command.done).toMatchObject({ outcome: 'CANCELLED', signal: 'SIGTERM' });
    expect(listProcs().some((p) => p.cmdline.includes(`300.${tag}`) && p.state !== 'Z')).toBe(
      false,
    );
  });

  it('a helper killed under a running command: the command is killed and reported, the next one starts', async () => {
    const tag = String(randomInt(100_000_000, 999_999_999));
    const command = runCommand(spec('sleep', [`300.${tag}`]), () => undefined);
    const pid = await command.started;
    const helper = parentOf(pid!);
    expect(helpers()).toContain(helper);
    process.kill(helper, 'SIGKILL');
    expect(await command.done).toEqual({ outcome: 'EXITED', exitCode: 137, signal: 'SIGKILL' });
    await waitFor('the sleep gone', () => !isAlive(pid!) || undefined);
    const next = await run(spec('echo', ['again']));
    expect(next.stdout).toBe('again\n');
    expect(helpers().filter((pid) => pid !== helper)).not.toEqual([]);
  });

  it('a NUL the helper cannot carry, or no helper at all: spawn starts the command instead', async () => {
    const withNul = await run(spec('echo', ['a\0b']));
    expect(withNul.end.outcome).toBe('START_FAILED');
    useSpawnHelper(false);
    const command = runCommand(spec('sh', ['-c', 'sleep 0.2; echo direct']), () => undefined);
    const pid = await command.started;
    expect(parentOf(pid!)).toBe(process.pid);
    await command.done;
  });

  it('the agent SIGKILLed: its helper ends and takes the running commands with it', async () => {
    const tag = String(randomInt(100_000_000, 999_999_999));
    // A stand-in agent in a process of its own, on the built module (npm test builds first).
    const agent = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { runCommand } = await import(${JSON.stringify(path.resolve('dist/agent/command-runner.js'))});
         const c = runCommand({ command: 'sleep', args: ['300.${tag}'], env: { PATH: process.env.PATH }, workingDir: '', timeoutMs: 0 }, () => {});
         console.log(await c.started);
         setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const jobPid = await new Promise<number>((resolve) =>
      agent.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim()))),
    );
    expect(jobPid).toBeGreaterThan(0);
    const helper = parentOf(jobPid);
    agent.kill('SIGKILL');
    await waitFor('the helper gone', () => !isAlive(helper) || undefined);
    await waitFor('the job gone', () => !isAlive(jobPid) || undefined);
  });
});
