// Nothing outlives its job, with real processes: a small Node "agent" runs under the real perl
// reaper, its job leaves `sleep`s behind that escape its process group (`setsid`), its
// environment (`env -i setsid`) or neither (`&`), and killJobLeftovers in that agent kills them
// all while the agent lives. The reaper kills them too when the agent is SIGKILLed, and so does
// the process provider's destroy. Each sleep carries a unique fractional duration (301.<tag>),
// which is how the test finds it in /proc.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { findReaper, reaperArgv, type Reaper } from '../../src/providers/process/reaper.js';
import { createProcessProvider } from '../../src/providers/process/process-provider.js';
import { silentLogger } from '../../src/shared/logger.js';
import { isAlive, listProcs, waitFor } from '../helpers/procs.js';
import { transpileSources } from '../helpers/transpile.js';

const dir = mkdtempSync(path.join(tmpdir(), 'hodei-containment-'));
transpileSources(['agent/job-containment.ts', 'shared/proc.ts', 'shared/reaper-env.ts'], dir);
const AGENT = path.join(dir, 'agent.js');
// The agent: reports what it does as JSON lines; runs a job given with --job at once, and takes
// "job <sh script>" and "kill" (killJobLeftovers) from stdin.
writeFileSync(
  AGENT,
  `
  import { spawn } from 'node:child_process';
  import { createInterface } from 'node:readline';
  import { containmentMode, killJobLeftovers } from './agent/job-containment.js';
  const say = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
  const job = (text) => {
    const sh = spawn('sh', ['-c', text], { detached: true, stdio: 'ignore' });
    sh.on('exit', (code) => say({ event: 'job-exited', code }));
  };
  say({ event: 'started', pid: process.pid, mode: containmentMode() });
  if (process.argv[2] === '--job') job(process.argv[3]);
  createInterface({ input: process.stdin }).on('line', async (line) => {
    if (line.startsWith('job ')) job(line.slice(4));
    if (line === 'kill') {
      const started = performance.now();
      const killed = await killJobLeftovers();
      say({ event: 'killed', killed, ms: performance.now() - started });
    }
  });
  setInterval(() => {}, 1000);
`,
);

const reaper = findReaper();
const started: ChildProcess[] = [];

afterEach(async () => {
  for (const child of started.splice(0)) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    // A reaper cleans up on SIGTERM; the group kill is for an agent started without one.
    child.kill('SIGTERM');
    const ended = () => child.exitCode !== null || child.signalCode !== null || undefined;
    await waitFor('exit', ended, 2000).catch(() => undefined);
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // the group is gone
    }
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Message {
  event: string;
  pid?: number;
  mode?: string;
  killed?: number;
  ms?: number;
  code?: number;
}

/** Starts the agent (under `withReaper`, or directly) and reads its JSON lines. */
function startAgent(withReaper: Reaper | undefined, args: string[] = []) {
  const argv = [process.execPath, AGENT, ...args];
  const [file, rest] = withReaper ? reaperArgv(withReaper, argv) : [argv[0]!, argv.slice(1)];
  const child = spawn(file, rest, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  started.push(child);
  const messages: Message[] = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout }).on('line', (line) =>
    messages.push(JSON.parse(line) as Message),
  );
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    stderr: () => stderr,
    send: (line: string) => child.stdin.write(`${line}\n`),
    next: (event: string) =>
      waitFor(`agent: ${event}`, () => {
        const at = messages.findIndex((m) => m.event === event);
        return at < 0 ? undefined : messages.splice(at, 1)[0];
      }),
  };
}

/** Live processes whose command line carries this tag (`sleep 301.<tag>`…). */
function sleepsOf(tag: string): number[] {
  return listProcs()
    .filter((p) => p.state !== 'Z' && p.cmdline.startsWith('sleep ') && p.cmdline.includes(tag))
    .map((p) => p.pid);
}

/** A job whose `sleep`s escape its group, its environment, or neither. */
function leakyJob(tag: string): string {
  return `setsid sleep 301.${tag} & env -i setsid sleep 302.${tag} & sleep 300.${tag} & sleep 0.2; echo x`;
}

const newTag = () => String(randomInt(100_000_000, 999_999_999));

describe.runIf('perl' in reaper)('job containment under the reaper', () => {
  const perl = reaper as Reaper;

  it('killJobLeftovers kills what a job left behind (setsid, env -i, &); the agent lives', async () => {
    const tag = newTag();
    const agent = startAgent(perl);
    const hello = await agent.next('started');
    expect(hello.mode).toBe('subreaper');
    agent.send(`job ${leakyJob(tag)}`);
    expect((await agent.next('job-exited')).code).toBe(0);
    // The job's shell is gone and its three sleeps outlived it.
    await waitFor('three leftover sleeps', () => sleepsOf(tag).length === 3 || undefined);

    agent.send('kill');
    expect((await agent.next('killed')).killed).toBe(3);
    await waitFor('no sleep left', () => sleepsOf(tag).length === 0 || undefined, 2000, 10);
    expect(isAlive(hello.pid!)).toBe(true);

    // Nothing left: one small read, nothing killed.
    agent.send('kill');
    const idle = await agent.next('killed');
    expect(idle.killed).toBe(0);
    expect(idle.ms).toBeLessThan(50);
  });

  it('a SIGKILLed agent: the reaper kills the orphans and exits with 128 + 9', async () => {
    const tag = newTag();
    const agent = startAgent(perl);
    const { pid } = await agent.next('started');
    agent.send(`job ${leakyJob(tag)}`);
    await agent.next('job-exited');
    await waitFor('three leftover sleeps', () => sleepsOf(tag).length === 3 || undefined);
    process.kill(pid!, 'SIGKILL');
    expect(await agent.exited).toBe(137);
    expect(sleepsOf(tag)).toEqual([]);
  });

  it('the process provider destroy leaves nothing of the tree, a running job included', async () => {
    const tag = newTag();
    const provider = createProcessProvider({
      command: [
        process.execPath,
        AGENT,
        '--job',
        `sleep 303.${tag} & setsid sleep 304.${tag} & exec sleep 305.${tag}`,
      ],
      logger: silentLogger(),
    });
    try {
      const { externalId } = await provider.create({
        workerId: '00000000-0000-4000-8000-000000000001',
        otp: 'otp',
        serverUrl: 'http://127.0.0.1:1',
        correlationId: 'c',
      });
      await waitFor('the job running', () => sleepsOf(tag).length === 3 || undefined);
      await provider.destroy(externalId);
      expect(isAlive(Number(externalId))).toBe(false);
      expect(sleepsOf(tag)).toEqual([]);
      expect(listProcs().filter((p) => p.cmdline.includes(AGENT) && p.state !== 'Z')).toEqual([]);
    } finally {
      await provider.close();
    }
  });

  it('a reaper that could not become a subreaper says so; the agent then relies on groups', async () => {
    const agent = startAgent({ perl: perl.perl, prctl: 0 });
    expect((await agent.next('started')).mode).toBe('process-group');
    expect(agent.stderr()).toMatch(/PR_SET_CHILD_SUBREAPER failed \(unknown architecture\)/);
    agent.send('kill');
    expect((await agent.next('killed')).killed).toBe(0);
  });
});

describe('job containment without the reaper', () => {
  it('an agent started directly is in process-group mode and kills nothing itself', async () => {
    const agent = startAgent(undefined);
    expect((await agent.next('started')).mode).toBe('process-group');
    agent.send('kill');
    expect((await agent.next('killed')).killed).toBe(0);
  });
});
