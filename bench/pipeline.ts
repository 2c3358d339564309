// Pipeline benchmarks: runs the real control plane (in this process) with real worker processes
// and prints one JSON line per figure, for each deployment (PostgreSQL + NATS JetStream, and
// embedded PGlite + the PostgreSQL-table bus):
//   throughput   — 2,000 jobs of `true` with a warm pool of 4 workers (--workers) (jobs/s)
//   queue_to_start — p50/p95/p99 from QueueJob to the worker's acknowledgement, idle system,
//                    warm worker (server timestamps: started_at − created_at), and its stages
//                    (queue_to_start_stages_ms: → assigned → started → finished, p50)
//   cold_start   — p50 of provision + run: queue → acknowledged, with no worker alive
//   cost_per_job — over the throughput run: SQL statements per job (through the driver) and CPU
//                  seconds per job of the server, PostgreSQL, nats-server and the agents, and
//                  of the 64 callers (a process of their own, bench/callers.ts)
// Usage: npm run bench [-- --jobs N --samples N --only postgres+nats|embedded --tracing --statements
//   --workers N]
// --workers: the warm pool's size (4 by default, graphile-worker's concurrency in bench/peer.ts),
// to see how throughput grows with workers and where it stops.
// --tracing: OpenTelemetry on, exporting every span over OTLP/HTTP to a sink in this process
// (figures then say tracing: true), to measure what tracing costs. --statements: statements per
// job by their text too (statement_per_job lines), to show which steps cost what.
import { appendFileSync, writeFileSync } from 'node:fs';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { JobService } from '../src/gen/hodei/v1/job_pb.js';
import { OpsService } from '../src/gen/hodei/v1/ops_pb.js';
import { costPerJob, countStatements, snapshot, statementsPerJob } from './cost.js';
import {
  finishedCount,
  liveWorkers,
  untilTerminal,
  warmWorkers,
  withDeployment,
  type Deployment,
} from './deployment.js';
import { arg, flag } from './args.js';
import { queueFromCallers } from './callers.js';

const JOBS = Number(arg('jobs', '2000'));
const SAMPLES = Number(arg('samples', '200'));
const COLD_SAMPLES = Number(arg('cold-samples', '15'));
const ONLY = arg('only', '');
const WORKERS = Number(arg('workers', '4'));

const TRACING = flag('tracing');
/** --statements: also print statements per job by their text, the most frequent first. */
const STATEMENTS = flag('statements');
countStatements({ byText: STATEMENTS });
let spansReceived = 0;

/** This run's figures, for bench/peer.ts to compute its ratios from (truncated at start). */
const FIGURES_FILE = new URL('../last-pipeline.jsonl', import.meta.url);
writeFileSync(FIGURES_FILE, '');

function emit(figure: Record<string, unknown>): void {
  const line = JSON.stringify(TRACING ? { ...figure, tracing: true } : figure);
  console.log(line);
  appendFileSync(FIGURES_FILE, `${line}\n`);
}

/** An OTLP/HTTP sink that counts spans and keeps nothing; tracing on, exporting to it. */
async function startTracingToSink(): Promise<() => Promise<void>> {
  const { createServer } = await import('node:http');
  const { startTracing } = await import('../src/telemetry/setup.js');
  const sink = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      spansReceived += (body.match(/"spanId"/g) ?? []).length;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  const address = sink.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const telemetry = startTracing('hodei-bench', {
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
  });
  return async () => {
    await telemetry.shutdown();
    await new Promise((resolve) => sink.close(resolve));
  };
}

/** The mean, to 0.01: the server's timestamps are whole milliseconds, so over many samples the
 * mean shows a change smaller than one that the percentiles cannot. */
function mean(values: number[]): number {
  return Math.round((values.reduce((a, b) => a + b, 0) / values.length) * 100) / 100;
}

function percentile(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return Math.round((sorted[i] ?? NaN) * 100) / 100;
}

function ms(ts: { seconds: bigint; nanos: number } | undefined): number {
  return ts ? Number(ts.seconds) * 1000 + ts.nanos / 1e6 : NaN;
}

async function warmAndMeasure(deployment: Deployment): Promise<void> {
  await withDeployment(
    deployment,
    { maxWorkers: WORKERS, workerIdleTtlMs: 600_000 },
    async (url) => {
      const transport = createGrpcTransport({ baseUrl: url });
      const jobs = createClient(JobService, transport);
      await warmWorkers(jobs, WORKERS);

      // Queue-to-start latency, one job at a time on an idle system with warm workers.
      const latencies: number[] = [];
      const stages = { queuedToAssigned: [] as number[], assignedToStarted: [] as number[] };
      const runs: number[] = [];
      for (let i = 0; i < SAMPLES; i += 1) {
        const { job } = await jobs.queueJob({ spec: { command: 'true' } });
        const done = await untilTerminal(jobs, job?.id ?? '');
        latencies.push(ms(done.startedAt) - ms(done.createdAt));
        stages.queuedToAssigned.push(ms(done.assignedAt) - ms(done.createdAt));
        stages.assignedToStarted.push(ms(done.startedAt) - ms(done.assignedAt));
        runs.push(ms(done.finishedAt) - ms(done.startedAt));
      }
      latencies.sort((a, b) => a - b);
      for (const list of [stages.queuedToAssigned, stages.assignedToStarted, runs])
        list.sort((a, b) => a - b);
      // The stages as the server records them (created_at, assigned_at, started_at, finished_at):
      // QueueJob committed → the saga assigned a worker → the worker acknowledged the RUN (spawned)
      // → the result recorded.
      emit({
        deployment,
        figure: 'queue_to_start_stages_ms',
        samples: SAMPLES,
        queuedToAssignedP50: percentile(stages.queuedToAssigned, 50),
        assignedToStartedP50: percentile(stages.assignedToStarted, 50),
        startedToFinishedP50: percentile(runs, 50),
        queuedToAssignedMean: mean(stages.queuedToAssigned),
        assignedToStartedMean: mean(stages.assignedToStarted),
      });
      emit({
        deployment,
        figure: 'queue_to_start_ms',
        samples: SAMPLES,
        p50: percentile(latencies, 50),
        p95: percentile(latencies, 95),
        p99: percentile(latencies, 99),
        mean: mean(latencies),
      });

      // Throughput: JOBS jobs of `true`, queued as fast as 64 concurrent calls allow.
      const costBefore = snapshot();
      const before = await finishedCount(url);
      const started = performance.now();
      const callers = await queueFromCallers({ kind: 'queueJob', url, jobs: JOBS, callers: 64 });
      const queuedAt = performance.now();
      while ((await finishedCount(url)) - before < JOBS)
        await new Promise((r) => setTimeout(r, 100));
      const seconds = (performance.now() - started) / 1000;
      // Statements and CPU per job over the throughput run (the agents' reaped `true` included).
      const costAfter = snapshot();
      emit({
        deployment,
        figure: 'cost_per_job',
        jobs: JOBS,
        ...costPerJob(costBefore, costAfter, JOBS),
        callersCpuSecondsPerJob: Math.round((callers.cpuSeconds / JOBS) * 1e5) / 1e5,
      });
      if (STATEMENTS) {
        for (const s of statementsPerJob(costBefore, costAfter, JOBS)) {
          emit({ deployment, figure: 'statement_per_job', ...s });
        }
      }
      emit({
        deployment,
        figure: 'throughput',
        jobs: JOBS,
        workers: WORKERS,
        seconds: Math.round(seconds * 100) / 100,
        jobsPerSecond: Math.round(JOBS / seconds),
        queueSeconds: Math.round((queuedAt - started) / 10) / 100,
      });
    },
  );
}

async function coldStart(deployment: Deployment): Promise<void> {
  await withDeployment(
    deployment,
    { maxWorkers: 1, workerIdleTtlMs: 1000, heartbeatIntervalMs: 200, missedHeartbeats: 20 },
    async (url) => {
      const transport = createGrpcTransport({ baseUrl: url });
      const jobs = createClient(JobService, transport);
      const ops = createClient(OpsService, transport);
      const samples: number[] = [];
      for (let i = 0; i < COLD_SAMPLES; i += 1) {
        while ((await liveWorkers(ops)) > 0) await new Promise((r) => setTimeout(r, 50));
        const { job } = await jobs.queueJob({ spec: { command: 'true' } });
        const done = await untilTerminal(jobs, job?.id ?? '');
        samples.push(ms(done.startedAt) - ms(done.createdAt));
      }
      samples.sort((a, b) => a - b);
      emit({
        deployment,
        figure: 'cold_start_ms',
        samples: COLD_SAMPLES,
        p50: percentile(samples, 50),
        p95: percentile(samples, 95),
      });
    },
  );
}

const deployments: Deployment[] = ONLY ? [ONLY as Deployment] : ['postgres+nats', 'embedded'];
emit({ figure: 'machine', cpus: (await import('node:os')).cpus().length, node: process.version });
const stopTracing = TRACING ? await startTracingToSink() : undefined;
for (const deployment of deployments) {
  await warmAndMeasure(deployment);
  await coldStart(deployment);
}
if (stopTracing) {
  await stopTracing();
  emit({ figure: 'spans_exported', spans: spansReceived });
}
