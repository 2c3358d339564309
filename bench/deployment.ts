// The deployments the benchmarks run the real control plane in (in the benchmark's process, so
// that its statements can be counted): PostgreSQL + NATS JetStream on a fresh database and
// stream, or embedded PGlite in a fresh directory; removed afterwards.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Client } from '@connectrpc/connect';
import { JobState, type Job, type JobService } from '../src/gen/hodei/v1/job_pb.js';
import { WorkerState } from '../src/gen/hodei/v1/worker_pb.js';
import type { OpsService } from '../src/gen/hodei/v1/ops_pb.js';
import { loadServerConfig, type ServerConfig } from '../src/config/config.js';
import { startServer } from '../src/server/start-server.js';
import { createLogger } from '../src/shared/logger.js';

export type Deployment = 'postgres+nats' | 'embedded';

const PG_ADMIN = process.env.HODEI_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const NATS = process.env.HODEI_BENCH_NATS_URL ?? 'nats://127.0.0.1:4222';

/** Jobs finished so far, from the server's own counter. */
export async function finishedCount(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('hodei_jobs_finished_total{')) total += Number(line.split(' ').pop());
  }
  return total;
}

export async function liveWorkers(ops: Client<typeof OpsService>): Promise<number> {
  const { workers } = await ops.listWorkers({});
  return workers.filter((w) => w.state !== WorkerState.TERMINATED).length;
}

/** Starts the server on a fresh deployment, runs `body` with its URL, then removes it all. */
export async function withDeployment<T>(
  deployment: Deployment,
  overrides: Partial<ServerConfig>,
  body: (url: string) => Promise<T>,
): Promise<T> {
  const cleanups: Array<() => Promise<void>> = [];
  const suffix = `${process.pid}_${Date.now()}`;
  let base: Partial<ServerConfig>;
  if (deployment === 'postgres+nats') {
    const admin = new pg.Client({ connectionString: PG_ADMIN });
    await admin.connect();
    const name = `hodei_bench_${suffix}`;
    await admin.query(`CREATE DATABASE "${name}"`);
    await admin.end();
    const url = new URL(PG_ADMIN);
    url.pathname = `/${name}`;
    base = {
      databaseUrl: url.toString(),
      natsUrl: NATS,
      streamName: `BENCH_${suffix}`,
      subjectPrefix: `bench${suffix}.events`,
      consumerName: `bench-${suffix}`,
    };
    cleanups.push(async () => {
      const a = new pg.Client({ connectionString: PG_ADMIN });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await a.end();
    });
  } else {
    const dir = await mkdtemp(path.join(tmpdir(), 'hodei-bench-'));
    base = { databaseUrl: undefined, natsUrl: undefined, dataDir: dir };
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
  }
  // Workers are started from the package's bin (the compiled bench lives elsewhere).
  const hodeiBin = path.resolve(import.meta.dirname, '../../bin/hodei.js');
  const config = loadServerConfig(
    { ...process.env, HODEI_LISTEN: '127.0.0.1:0' },
    { ...base, workerCommand: [process.execPath, hodeiBin, 'worker'], ...overrides },
  );
  const server = await startServer(config, {
    logger: createLogger({ level: 'warn' }),
    mode: 'server',
  });
  try {
    return await body(server.url);
  } finally {
    await server.stop();
    if (deployment === 'postgres+nats') {
      const { connect } = await import('@nats-io/transport-node');
      const { jetstreamManager } = await import('@nats-io/jetstream');
      const nc = await connect({ servers: NATS });
      await (await jetstreamManager(nc)).streams.delete(config.streamName).catch(() => false);
      await nc.close();
    }
    for (const cleanup of cleanups.reverse()) await cleanup();
  }
}

const TERMINAL = [JobState.SUCCEEDED, JobState.FAILED, JobState.TIMED_OUT, JobState.CANCELLED];

/** Waits for the job to end (WatchJob); returns it as it ended. */
export async function untilTerminal(jobs: Client<typeof JobService>, id: string): Promise<Job> {
  for await (const message of jobs.watchJob({ id })) {
    if (message.event.case === 'job' && TERMINAL.includes(message.event.value.state))
      return message.event.value;
  }
  const { job } = await jobs.getJob({ id });
  if (!job) throw new Error(`job ${id} vanished`);
  return job;
}

/** Warms the pool: `count` overlapping jobs make `count` workers (4 by default). */
export async function warmWorkers(jobs: Client<typeof JobService>, count = 4): Promise<void> {
  const warm = await Promise.all(
    Array.from({ length: count }, () =>
      jobs.queueJob({ spec: { command: 'sleep', args: ['0.5'] } }),
    ),
  );
  await Promise.all(warm.map((w) => untilTerminal(jobs, w.job?.id ?? '')));
}
