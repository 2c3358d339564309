// The worker agent against a real Connect server on 127.0.0.1: registration, heartbeats, running
// commands (output, exit codes, start failures, timeouts, cancels) and crash-only endings, with
// /proc checks that no process of a job's tree outlives it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runAgent, AGENT_EXIT } from '../../src/agent/run-agent.js';
import { RunOutcome } from '../../src/gen/hodei/v1/worker_pb.js';
import { silentLogger } from '../../src/shared/logger.js';
import { waitFor } from '../helpers/procs.js';
import {
  acks,
  bytesOf,
  outputChunks,
  markedProcesses,
  pushJob,
  results,
  textOf,
  waitForResult,
  useAgents,
} from './agent-helpers.js';

const { agent, plane } = useAgents();

describe('registration', () => {
  it('a wrong one-time password makes runAgent resolve non-zero without a stream', async () => {
    const { workerId } = plane().issueWorker();
    const code = await runAgent({
      serverUrl: plane().url,
      workerId,
      otp: 'not-the-otp',
      logger: silentLogger(),
    });
    expect(code).toBe(AGENT_EXIT.REGISTRATION_FAILED);
    expect(
      plane().registrations.some((r) => r.workerId === workerId && r.pid === process.pid),
    ).toBe(true);
  });

  it('an unreachable control plane makes runAgent resolve non-zero', async () => {
    const code = await runAgent({
      serverUrl: 'http://127.0.0.1:1',
      workerId: 'w',
      otp: 'x',
      logger: silentLogger(),
    });
    expect(code).toBe(AGENT_EXIT.REGISTRATION_FAILED);
  });

  it('the provisioning correlation id travels as x-correlation-id on Register and Connect', async () => {
    const before = plane().correlationHeaders.length;
    await agent('prov-corr-1');
    expect(plane().correlationHeaders.slice(before)).toEqual(['prov-corr-1', 'prov-corr-1']);
  });

  it('heartbeats arrive at once and then every heartbeat_interval_ms', async () => {
    const { stream } = await agent();
    const beats = () => stream.received.filter((m) => m.body.case === 'heartbeat').length;
    await waitFor('first heartbeat', () => beats() >= 1 || undefined, 1000, 5);
    await waitFor('three heartbeats', () => beats() >= 3 || undefined, 2000, 10);
  });
});

describe('running a command', () => {
  it('echo hello: ack, a stdout batch with "hello", then EXITED 0 after the output', async () => {
    const { stream } = await agent();
    const { jobId } = pushJob(stream, { command: 'echo', args: ['hello'] });
    const result = await waitForResult(stream, jobId);
    expect(acks(stream, jobId)).toBe(1);
    expect(textOf(outputChunks(stream, jobId), 'stdout')).toEqual(['hello']);
    expect(result.outcome).toBe(RunOutcome.EXITED);
    expect(result.exitCode).toBe(0);
    const kinds = stream.received
      .filter((m) => m.body.case !== 'heartbeat')
      .map((m) => m.body.case);
    expect(kinds).toEqual(['ack', 'output', 'result']);
  });

  it('stderr lines are reported as stderr and the exit code is kept', async () => {
    const { stream } = await agent();
    const { jobId } = pushJob(stream, { command: 'sh', args: ['-c', 'echo err >&2; exit 3'] });
    const result = await waitForResult(stream, jobId);
    expect(textOf(outputChunks(stream, jobId), 'stderr')).toEqual(['err']);
    expect(result.outcome).toBe(RunOutcome.EXITED);
    expect(result.exitCode).toBe(3);
  });

  it('arguments reach the program unchanged (no shell)', async () => {
    const { stream } = await agent();
    const { jobId } = pushJob(stream, { command: 'printf', args: ['%s|', '$HOME', 'a b', '*'] });
    await waitForResult(stream, jobId);
    expect(textOf(outputChunks(stream, jobId), 'stdout')).toEqual(['$HOME|a b|*|']);
  });

  it("the job's environment is its spec.env over a small base, never the agent's", async () => {
    process.env.HODEI_AGENT_ONLY_MARK = 'agent-secret';
    try {
      const { stream } = await agent();
      const { jobId, mark } = pushJob(stream, { command: 'env', workingDir: '/tmp', attempt: 2 });
      await waitForResult(stream, jobId);
      const env = Object.fromEntries(
        textOf(outputChunks(stream, jobId), 'stdout').map((line) => [
          line.slice(0, line.indexOf('=')),
          line.slice(line.indexOf('=') + 1),
        ]),
      );
      expect(Object.keys(env).sort()).toEqual(
        [
          'HODEI_ATTEMPT',
          'HODEI_CORRELATION_ID',
          'HODEI_JOB_ID',
          'HODEI_TEST_JOB_MARK',
          'HOME',
          'LANG',
          'PATH',
          ...(process.env.TZ ? ['TZ'] : []),
        ].sort(),
      );
      expect(env).toMatchObject({
        HODEI_TEST_JOB_MARK: mark,
        HODEI_JOB_ID: jobId,
        HODEI_ATTEMPT: '2',
        HODEI_CORRELATION_ID: `corr-${jobId}`,
      });
    } finally {
      delete process.env.HODEI_AGENT_ONLY_MARK;
    }
  });

  it('working_dir applies', async () => {
    const { stream } = await agent();
    const { jobId } = pushJob(stream, { command: 'pwd', workingDir: '/tmp' });
    await waitForResult(stream, jobId);
    expect(textOf(outputChunks(stream, jobId), 'stdout')).toEqual(['/tmp']);
  });

  it('a missing command is START_FAILED with a clear message and exit code 127', async () => {
    const { stream } = await agent();
    const { jobId } = pushJob(stream, { command: 'hodei-no-such-command' });
    const result = await waitForResult(stream, jobId);
    expect(acks(stream, jobId)).toBe(1);
    expect(result.outcome).toBe(RunOutcome.START_FAILED);
    expect(result.error).toBe('command not found: hodei-no-such-command');
    expect(result.exitCode).toBe(127);
  });

  it('a command that is not executable is START_FAILED with exit code 126', async () => {
    const { stream } = await agent();
    const dir = mkdtempSync(join(tmpdir(), 'hodei-agent-'));
    const script = join(dir, 'not-executable.sh');
    writeFileSync(script, 'echo hi\n', { mode: 0o644 });
    const { jobId } = pushJob(stream, { command: script });
    const result = await waitForResult(stream, jobId);
    rmSync(dir, { recursive: true, force: true });
    expect(result.outcome).toBe(RunOutcome.START_FAILED);
    expect(result.error).toBe(`permission denied: ${script}`);
    expect(result.exitCode).toBe(126);
  });

  it('a missing working directory is START_FAILED naming the directory', async () => {
    const { stream } = await agent();
    const { jobId } = pushJob(stream, { command: 'true', workingDir: '/nonexistent/hodei' });
    const result = await waitForResult(stream, jobId);
    expect(result.outcome).toBe(RunOutcome.START_FAILED);
    expect(result.error).toBe('working directory not found: /nonexistent/hodei');
  });

  it('a command killed by a signal reports its name and 128 + its number', async () => {
    const { stream } = await agent();
    const { jobId } = pushJob(stream, { command: 'sh', args: ['-c', 'kill -KILL $$'] });
    const result = await waitForResult(stream, jobId);
    expect(result.outcome).toBe(RunOutcome.EXITED);
    expect(result.signal).toBe('SIGKILL');
    expect(result.exitCode).toBe(137);
  });

  it('output arrives byte for byte, in order, in messages of at most 256 KiB', async () => {
    const { stream } = await agent();
    const { jobId } = pushJob(stream, { command: 'seq', args: ['1', '200000'] });
    await waitForResult(stream, jobId);
    const sizes = stream.received.flatMap((m) =>
      m.body.case === 'output' && m.body.value.jobId === jobId
        ? [m.body.value.chunks.reduce((n, c) => n + c.data.length, 0)]
        : [],
    );
    expect(Math.max(...sizes)).toBeLessThanOrEqual(256 * 1024);
    const expected = Array.from({ length: 200_000 }, (_, i) => `${i + 1}\n`).join('');
    expect(bytesOf(outputChunks(stream, jobId), 'stdout').toString()).toBe(expected);
  });

  it('a 150,000-byte line and bytes that are not UTF-8 come back exactly', async () => {
    const { stream } = await agent();
    const { jobId } = pushJob(stream, {
      command: process.execPath,
      args: [
        '-e',
        "process.stdout.write('x'.repeat(150000)); process.stdout.write(Buffer.from([0xff, 0xfe, 0, 10]))",
      ],
    });
    await waitForResult(stream, jobId);
    const out = bytesOf(outputChunks(stream, jobId), 'stdout');
    expect(out.length).toBe(150_004);
    expect(out.subarray(0, 150_000).toString()).toBe('x'.repeat(150_000));
    expect([...out.subarray(150_000)]).toEqual([0xff, 0xfe, 0, 10]);
  });

  it('a duplicate RunJob is ignored, and so is another job while busy', async () => {
    const { stream } = await agent();
    const first = pushJob(stream, { command: 'sleep', args: ['0.3'] });
    pushJob(stream, { command: 'sleep', args: ['0.3'], jobId: first.jobId });
    const other = pushJob(stream, { command: 'echo', args: ['other'] });
    await waitForResult(stream, first.jobId);
    // Redelivered after it finished: still not run again.
    pushJob(stream, { command: 'sleep', args: ['0.3'], jobId: first.jobId });
    await new Promise((r) => setTimeout(r, 200));
    expect(acks(stream, first.jobId)).toBe(1);
    expect(results(stream, first.jobId)).toHaveLength(1);
    expect(acks(stream, other.jobId)).toBe(0);
  });
});

describe('stopping a command', () => {
  it('sleep 5 with a 300 ms timeout ends TIMED_OUT and the sleep is gone', async () => {
    const { stream } = await agent();
    const started = Date.now();
    const { jobId, mark } = pushJob(stream, { command: 'sleep', args: ['5'], timeoutMs: 300 });
    await waitFor('the sleep', () => markedProcesses(mark).length > 0 || undefined, 2000, 5);
    const result = await waitForResult(stream, jobId);
    expect(result.outcome).toBe(RunOutcome.TIMED_OUT);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(markedProcesses(mark)).toEqual([]);
  });

  it('a timed-out tree that ignores SIGTERM is killed 500 ms later', async () => {
    const { stream } = await agent();
    const { jobId, mark } = pushJob(stream, {
      command: 'sh',
      args: ['-c', 'trap "" TERM; sleep 60 & sleep 60; wait'],
      timeoutMs: 200,
    });
    const result = await waitForResult(stream, jobId);
    expect(result.outcome).toBe(RunOutcome.TIMED_OUT);
    expect(markedProcesses(mark)).toEqual([]);
  });

  it('CancelRun ends sh -c "sleep 60; …" CANCELLED within 2 s with no process left', async () => {
    const { stream } = await agent();
    const { jobId, mark } = pushJob(stream, {
      command: 'sh',
      args: ['-c', 'sleep 60; echo never'],
    });
    await waitFor('the tree', () => markedProcesses(mark).length >= 2 || undefined, 2000, 5);
    const cancelledAt = Date.now();
    stream.push({ case: 'cancel', value: { jobId, attempt: 1 } });
    const result = await waitForResult(stream, jobId, 2000);
    expect(Date.now() - cancelledAt).toBeLessThan(2000);
    expect(result.outcome).toBe(RunOutcome.CANCELLED);
    expect(markedProcesses(mark)).toEqual([]);
    expect(textOf(outputChunks(stream, jobId), 'stdout')).toEqual([]);
  });

  it('a CancelRun for another job or attempt changes nothing', async () => {
    const { stream } = await agent();
    const { jobId } = pushJob(stream, { command: 'sleep', args: ['0.3'] });
    stream.push({ case: 'cancel', value: { jobId, attempt: 2 } });
    stream.push({ case: 'cancel', value: { jobId: 'another', attempt: 1 } });
    const result = await waitForResult(stream, jobId);
    expect(result.outcome).toBe(RunOutcome.EXITED);
  });
});

describe('crash-only endings', () => {
  it('the server closing the stream makes runAgent resolve non-zero and kills the job', async () => {
    const started = await agent();
    const { stream } = started;
    const { jobId, mark } = pushJob(stream, { command: 'sh', args: ['-c', 'sleep 60; echo x'] });
    await waitFor('the tree', () => markedProcesses(mark).length >= 2 || undefined, 2000, 5);
    stream.end();
    expect(await started.exit).toBe(AGENT_EXIT.STREAM_LOST);
    expect(markedProcesses(mark)).toEqual([]);
    expect(results(stream, jobId)).toEqual([]);
  });

  it('the abort signal kills the job, closes the stream and resolves 0', async () => {
    const started = await agent();
    const { stream } = started;
    const { jobId, mark } = pushJob(stream, { command: 'sh', args: ['-c', 'sleep 60; echo x'] });
    await waitFor('the tree', () => markedProcesses(mark).length >= 2 || undefined, 2000, 5);
    started.controller.abort();
    expect(await started.exit).toBe(AGENT_EXIT.STOPPED);
    expect(markedProcesses(mark)).toEqual([]);
    // No CANCELLED result: the lost stream, not the user, ended this run.
    expect(results(stream, jobId)).toEqual([]);
    await waitFor('server sees the stream end', () => stream.ended || undefined, 2000, 10);
  });
});
