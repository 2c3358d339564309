// The agent under jobs that push it: output faster than the control plane reads (the job blocks
// on write; nothing is lost; heartbeats still go first), and commands that cannot start for any
// reason (each ends START_FAILED with its reason, and the same agent runs the next job).
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunOutcome } from '../../src/gen/hodei/v1/worker_pb.js';
import { waitFor } from '../helpers/procs.js';
import { HEARTBEAT_MS } from './fake-control-plane.js';
import {
  bytesOf,
  markedProcesses,
  outputChunks,
  pushJob,
  textOf,
  waitForResult,
  useAgents,
  type TestAgent,
} from './agent-helpers.js';

const { agent } = useAgents();
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hodei-agent-limits-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const received = (agentStream: TestAgent['stream'], jobId: string) =>
  outputChunks(agentStream, jobId).reduce((n, c) => n + c.data.length, 0);

describe('flow control', () => {
  it('a job writing faster than the control plane reads blocks, and loses nothing', async () => {
    const { stream } = await agent();
    stream.pause();
    const total = 64 * 1024 * 1024;
    const { jobId, mark } = pushJob(stream, {
      command: 'sh',
      args: ['-c', `head -c ${total} /dev/zero | tr '\\0' 'x'`],
    });
    await waitFor('the job', () => markedProcesses(mark).length > 0 || undefined, 2000, 5);
    await new Promise((r) => setTimeout(r, 1500));
    // Paused: what reached the plane is bounded (one message it took, plus HTTP/2 windows), and
    // the job has not finished: it waits on its pipe.
    expect(received(stream, jobId)).toBeLessThan(2 * 1024 * 1024);
    expect(markedProcesses(mark).length).toBeGreaterThan(0);
    stream.resume();
    const result = await waitForResult(stream, jobId, 30_000);
    expect(result.outcome).toBe(RunOutcome.EXITED);
    expect(result.exitCode).toBe(0);
    expect(received(stream, jobId)).toBe(total);
  });

  it('heartbeats keep their interval while a job floods its output', async () => {
    const { stream } = await agent();
    const { jobId } = pushJob(stream, {
      command: 'sh',
      args: [
        '-c',
        'end=$(($(date +%s) + 2)); while [ $(date +%s) -lt $end ]; do seq 1 20000; done',
      ],
    });
    const startedAt = Date.now();
    await waitForResult(stream, jobId, 20_000);
    const beats = stream.received
      .map((m, i) => (m.body.case === 'heartbeat' ? stream.arrivals[i]! : undefined))
      .filter((at): at is number => at !== undefined && at >= startedAt);
    const gaps = beats.slice(1).map((at, i) => at - beats[i]!);
    expect(beats.length).toBeGreaterThan(5);
    // Never three intervals without one (the kill-switch's threshold).
    expect(Math.max(...gaps)).toBeLessThan(3 * HEARTBEAT_MS);
  });
});

describe("a job's failure is never the worker's", () => {
  async function startFailure(input: { command: string; workingDir?: string }) {
    const { stream } = await agent();
    const { jobId } = pushJob(stream, input);
    const result = await waitForResult(stream, jobId);
    // The same agent takes the next job.
    const next = pushJob(stream, { command: 'echo', args: ['next'] });
    await waitForResult(stream, next.jobId);
    expect(textOf(outputChunks(stream, next.jobId), 'stdout')).toEqual(['next']);
    return result;
  }

  it('a command name of 4,000 characters', async () => {
    const result = await startFailure({ command: 'x'.repeat(4000) });
    expect(result.outcome).toBe(RunOutcome.START_FAILED);
    expect(result.error).toMatch(
      /^(command name too long|command not found): x{200}… \(4000 chars\)$/,
    );
    expect(result.exitCode).toBeGreaterThanOrEqual(126);
  });

  it('a working directory that is a regular file', async () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'not a directory\n');
    const result = await startFailure({ command: 'true', workingDir: file });
    expect(result.outcome).toBe(RunOutcome.START_FAILED);
    expect(result.error).toBe(`working directory is not a directory: ${file}`);
  });

  it('a script with a bad interpreter line', async () => {
    const script = join(dir, 'bad-interpreter.sh');
    writeFileSync(script, '#!/nonexistent/hodei-shell\necho hi\n');
    chmodSync(script, 0o755);
    const result = await startFailure({ command: script });
    expect(result.outcome).toBe(RunOutcome.START_FAILED);
    expect(result.error).toBe(`bad interpreter: /nonexistent/hodei-shell (in ${script})`);
    expect(result.exitCode).toBe(126);
  });

  it('a file that is not a program (exec format error)', async () => {
    const file = join(dir, 'data.bin');
    writeFileSync(file, Buffer.from([0, 1, 2, 3, 4, 5, 6, 7]));
    chmodSync(file, 0o755);
    const result = await startFailure({ command: file });
    // execvp falls back to running a file without a known format with /bin/sh (which then
    // fails on it), so this is either a clean start failure or a non-zero exit: never a crash.
    expect(result.outcome === RunOutcome.START_FAILED || result.exitCode !== 0).toBe(true);
  });

  it('a NUL-free but huge argument list still only fails the job', async () => {
    const { stream } = await agent();
    const { jobId } = pushJob(stream, {
      command: 'echo',
      args: Array.from({ length: 40 }, () => 'y'.repeat(100_000)),
    });
    const result = await waitForResult(stream, jobId);
    // 4 MB of arguments: over the kernel's limit for one argument string (128 KiB) it is not,
    // but over ARG_MAX on most machines it is; either way the agent lives.
    expect([RunOutcome.START_FAILED, RunOutcome.EXITED]).toContain(result.outcome);
    expect(bytesOf(outputChunks(stream, jobId), 'stderr').length).toBeGreaterThanOrEqual(0);
    const next = pushJob(stream, { command: 'echo', args: ['alive'] });
    await waitForResult(stream, next.jobId);
    expect(textOf(outputChunks(stream, next.jobId), 'stdout')).toEqual(['alive']);
  });
});
