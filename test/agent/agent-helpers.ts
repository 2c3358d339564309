// Helpers for agent tests: start an agent against the fake control plane, send it jobs, read
// back what it reported, and find a job's processes by an environment marker (/proc).
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type { RunOutputChunk, RunResult } from '../../src/gen/hodei/v1/worker_pb.js';
import { LogStream } from '../../src/gen/hodei/v1/job_pb.js';
import { runAgent } from '../../src/agent/run-agent.js';
import { silentLogger } from '../../src/shared/logger.js';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { waitFor } from '../helpers/procs.js';
import { startFakeControlPlane } from './fake-control-plane.js';
import type { FakeControlPlane, WorkerStream } from './fake-control-plane.js';

export const MARK = 'HODEI_TEST_JOB_MARK';

/**
 * Registers the hooks of a suite of agent tests: one fake control plane for the file, and every
 * agent started with `agent()` stopped after its test.
 */
export function useAgents(): {
  agent: (correlationId?: string) => Promise<TestAgent>;
  plane: () => FakeControlPlane;
} {
  let plane: FakeControlPlane | undefined;
  const agents: TestAgent[] = [];
  beforeAll(async () => {
    plane = await startFakeControlPlane();
  });
  afterEach(async () => {
    for (const agent of agents.splice(0)) {
      agent.controller.abort();
      await agent.exit;
    }
  });
  afterAll(async () => {
    await plane?.close();
  });
  const current = () => {
    if (!plane) throw new Error('the fake control plane is not started yet');
    return plane;
  };
  return {
    plane: current,
    async agent(correlationId) {
      const started = await startAgent(current(), correlationId);
      agents.push(started);
      return started;
    },
  };
}

export interface TestAgent {
  workerId: string;
  stream: WorkerStream;
  exit: Promise<number>;
  controller: AbortController;
}

export async function startAgent(
  plane: FakeControlPlane,
  correlationId?: string,
): Promise<TestAgent> {
  const { workerId, otp } = plane.issueWorker();
  const controller = new AbortController();
  const exit = runAgent({
    serverUrl: plane.url,
    workerId,
    otp,
    logger: silentLogger(),
    signal: controller.signal,
    correlationId,
  });
  const stream = await plane.waitForStream(workerId);
  return { workerId, stream, exit, controller };
}

export interface JobInput {
  command: string;
  args?: string[];
  timeoutMs?: number;
  workingDir?: string;
  attempt?: number;
  jobId?: string;
}

/** Pushes a RunJob whose processes carry a marker of their own; returns its id and marker. */
export function pushJob(stream: WorkerStream, input: JobInput): { jobId: string; mark: string } {
  const jobId = input.jobId ?? randomUUID();
  const mark = randomUUID();
  const ms = input.timeoutMs ?? 0;
  stream.push({
    case: 'run',
    value: {
      jobId,
      attempt: input.attempt ?? 1,
      correlationId: `corr-${jobId}`,
      spec: {
        command: input.command,
        args: input.args ?? [],
        env: { [MARK]: mark },
        workingDir: input.workingDir ?? '',
        timeout:
          ms > 0 ? { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 } : undefined,
      },
    },
  });
  return { jobId, mark };
}

export function results(stream: WorkerStream, jobId: string): RunResult[] {
  return stream.received.flatMap((m) =>
    m.body.case === 'result' && m.body.value.jobId === jobId ? [m.body.value] : [],
  );
}

export function waitForResult(stream: WorkerStream, jobId: string, timeoutMs = 10_000) {
  return waitFor(`result of ${jobId}`, () => results(stream, jobId)[0], timeoutMs, 10);
}

export function acks(stream: WorkerStream, jobId: string): number {
  return stream.received.filter((m) => m.body.case === 'ack' && m.body.value.jobId === jobId)
    .length;
}

export function outputChunks(stream: WorkerStream, jobId: string): RunOutputChunk[] {
  return stream.received.flatMap((m) =>
    m.body.case === 'output' && m.body.value.jobId === jobId ? m.body.value.chunks : [],
  );
}

/** Every byte the job wrote to one of its pipes, joined. */
export function bytesOf(chunks: RunOutputChunk[], which: 'stdout' | 'stderr'): Buffer {
  const wanted = which === 'stdout' ? LogStream.STDOUT : LogStream.STDERR;
  return Buffer.concat(chunks.filter((c) => c.stream === wanted).map((c) => c.data));
}

/** The lines of one pipe's output (a last line without newline included). */
export function textOf(chunks: RunOutputChunk[], which: 'stdout' | 'stderr'): string[] {
  const text = bytesOf(chunks, which).toString();
  if (text === '') return [];
  return (text.endsWith('\n') ? text.slice(0, -1) : text).split('\n');
}

/** Pids of live (non-zombie) processes whose environment holds MARK=mark. */
export function markedProcesses(mark: string): number[] {
  const wanted = `${MARK}=${mark}`;
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      if (readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').includes(wanted)) {
        pids.push(Number(entry));
      }
    } catch {
      // ended while we looked
    }
  }
  return pids;
}
