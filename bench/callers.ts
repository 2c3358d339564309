// The benchmarks' clients as a process of their own: users' callers do not share the server's
// thread, so the benchmark's must not either (in the server's process their gRPC encoding took
// a share of the one thread the server has). `queueFromCallers` forks this file; the child queues
// jobs of `true` and reports how long it took over IPC.
//   queueJob:  `callers` concurrent QueueJob calls until `jobs` jobs are queued
//   queueJobs: `batches` QueueJobs calls of `size` jobs each, one after another
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { JobService } from '../src/gen/hodei/v1/job_pb.js';

export type CallerPlan =
  | { kind: 'queueJob'; url: string; jobs: number; callers: number }
  | { kind: 'queueJobs'; url: string; batches: number; size: number };

export interface CallerReport {
  /** From the first call to the last answer. */
  seconds: number;
  /** Each call's latency, ms, sorted (queueJobs only). */
  callsMs: number[];
  /** CPU seconds the callers spent. */
  cpuSeconds: number;
}

/** Runs the plan in a child process; resolves with its report. */
export function queueFromCallers(plan: CallerPlan): Promise<CallerReport> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), [JSON.stringify(plan)]);
    let report: CallerReport | undefined;
    child.on('message', (message) => {
      report = message as CallerReport;
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (report) resolve(report);
      else reject(new Error(`bench callers exited with ${code} and no report`));
    });
  });
}

async function runPlan(plan: CallerPlan): Promise<CallerReport> {
  const jobs = createClient(JobService, createGrpcTransport({ baseUrl: plan.url }));
  const started = performance.now();
  const callsMs: number[] = [];
  if (plan.kind === 'queueJob') {
    let next = 0;
    await Promise.all(
      Array.from({ length: plan.callers }, async () => {
        while (next < plan.jobs) {
          next += 1;
          await jobs.queueJob({ spec: { command: 'true' } });
        }
      }),
    );
  } else {
    const batch = Array.from({ length: plan.size }, () => ({ spec: { command: 'true' } }));
    for (let i = 0; i < plan.batches; i += 1) {
      const t0 = performance.now();
      await jobs.queueJobs({ jobs: batch });
      callsMs.push(performance.now() - t0);
    }
    callsMs.sort((a, b) => a - b);
  }
  const cpu = process.cpuUsage();
  return {
    seconds: (performance.now() - started) / 1000,
    callsMs,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
}

if (process.send && process.argv[2]) {
  const report = await runPlan(JSON.parse(process.argv[2]) as CallerPlan);
  process.send(report, () => process.exit(0));
}
