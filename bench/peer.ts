// The peer in the benchmark (issue 11): graphile-worker, the queue a user would pick instead,
// doing the same work as bench/pipeline.ts on the same PostgreSQL — each job spawns `true`, 4 at
// a time — and the ratios of Hodei's figures from the pipeline run just before (read from
// dist-bench/last-pipeline.jsonl) to its own. One JSON line per figure:
//   peer_throughput      — N jobs added by 64 concurrent callers, until all succeeded (jobs/s)
//   peer_queue_to_start_ms — one job at a time on an idle system: task start − created_at
//   peer_backlog         — (--backlog N) N jobs added first, then drained (jobs/s)
//   vs_peer              — Hodei ÷ peer: throughput ratio (≥ 1 is faster) and latency ratios
//                          (≤ 1 is faster), for postgres+nats
// Usage: node dist-bench/bench/peer.js [--jobs N --samples N --backlog N]
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import pg from 'pg';
import { Logger, makeWorkerUtils, run, type Runner } from 'graphile-worker';
import { arg } from './args.js';

const JOBS = Number(arg('jobs', '2000'));
const SAMPLES = Number(arg('samples', '200'));
const BACKLOG = Number(arg('backlog', '0'));
const PG_ADMIN = process.env.HODEI_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const PEER = 'graphile-worker 0.17';
const HODEI_FIGURES = new URL('../last-pipeline.jsonl', import.meta.url);

const runTrue = promisify(execFile);
const quiet = new Logger(() => () => undefined);

function emit(figure: Record<string, unknown>): void {
  console.log(JSON.stringify(figure));
}

function percentile(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return Math.round((sorted[i] ?? NaN) * 100) / 100;
}

/** Runs `body` with a fresh database on the shared PostgreSQL, dropped afterwards. */
async function withDatabase<T>(body: (url: string) => Promise<T>): Promise<T> {
  const name = `hodei_peer_${process.pid}_${Date.now()}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  const url = new URL(PG_ADMIN);
  url.pathname = `/${name}`;
  try {
    return await body(url.toString());
  } finally {
    const drop = new pg.Client({ connectionString: PG_ADMIN });
    await drop.connect();
    await drop.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await drop.end();
  }
}

/** Resolves once `count` jobs have succeeded since the call. */
function successes(runner: Runner, count: number): Promise<void> {
  return new Promise((resolve) => {
    let done = 0;
    const onSuccess = () => {
      done += 1;
      if (done === count) {
        runner.events.off('job:success', onSuccess);
        resolve();
      }
    };
    runner.events.on('job:success', onSuccess);
  });
}

/** A pool of our own for graphile-worker (pg's default size, as it would make): ended before
 * the database is dropped, and an error of an idle client while it closes is not a crash. */
function peerPool(connectionString: string): pg.Pool {
  const pool = new pg.Pool({ connectionString });
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

async function main(): Promise<void> {
  await withDatabase(async (connectionString) => {
    const starts = new Map<string, number>();
    const runnerPool = peerPool(connectionString);
    const utilsPool = peerPool(connectionString);
    const runner = await run({
      pgPool: runnerPool,
      concurrency: 4,
      noHandleSignals: true,
      logger: quiet,
      taskList: {
        run_true: async () => {
          await runTrue('true');
        },
        run_true_timed: async (_payload, helpers) => {
          starts.set(helpers.job.id, Date.now() - helpers.job.created_at.getTime());
          await runTrue('true');
        },
      },
    });
    const utils = await makeWorkerUtils({ pgPool: utilsPool, logger: quiet });
    try {
      // Warm-up: the runner's connections and the first spawns.
      const warm = successes(runner, 20);
      await utils.addJobs(
        Array.from({ length: 20 }, () => ({ identifier: 'run_true', payload: {} })),
      );
      await warm;

      // Throughput: 64 concurrent callers add N jobs; until every one succeeded.
      const all = successes(runner, JOBS);
      const started = performance.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: 64 }, async () => {
          while (next < JOBS) {
            next += 1;
            await utils.addJob('run_true', {});
          }
        }),
      );
      const queueSeconds = (performance.now() - started) / 1000;
      await all;
      const seconds = (performance.now() - started) / 1000;
      emit({
        peer: PEER,
        figure: 'peer_throughput',
        jobs: JOBS,
        concurrency: 4,
        seconds: Math.round(seconds * 100) / 100,
        jobsPerSecond: Math.round(JOBS / seconds),
        queueSeconds: Math.round(queueSeconds * 100) / 100,
      });

      // Queue → start, one at a time on an idle system.
      const samples: number[] = [];
      for (let i = 0; i < SAMPLES; i += 1) {
        const one = successes(runner, 1);
        const job = await utils.addJob('run_true_timed', {});
        await one;
        samples.push(starts.get(job.id) ?? NaN);
      }
      samples.sort((a, b) => a - b);
      emit({
        peer: PEER,
        figure: 'peer_queue_to_start_ms',
        samples: SAMPLES,
        p50: percentile(samples, 50),
        p95: percentile(samples, 95),
        p99: percentile(samples, 99),
      });

      if (BACKLOG > 0) {
        // The runner is stopped while the backlog is added, so it drains a full queue.
        await runner.stop();
        for (let i = 0; i < BACKLOG; i += 1000) {
          const n = Math.min(1000, BACKLOG - i);
          await utils.addJobs(
            Array.from({ length: n }, () => ({ identifier: 'run_true', payload: {} })),
          );
        }
        const drainer = await run({
          pgPool: runnerPool,
          concurrency: 4,
          noHandleSignals: true,
          logger: quiet,
          taskList: { run_true: async () => void (await runTrue('true')) },
        });
        const drained = successes(drainer, BACKLOG);
        const from = performance.now();
        await drained;
        const drainSeconds = (performance.now() - from) / 1000;
        await drainer.stop();
        emit({
          peer: PEER,
          figure: 'peer_backlog',
          jobs: BACKLOG,
          seconds: Math.round(drainSeconds * 10) / 10,
          jobsPerSecond: Math.round(BACKLOG / drainSeconds),
        });
      }

      ratios(JOBS / seconds, percentile(samples, 50), percentile(samples, 99));
    } finally {
      await utils.release();
      if (BACKLOG === 0) await runner.stop();
      await Promise.all([runnerPool.end(), utilsPool.end()]);
    }
  });
}

/** Hodei ÷ peer, from the pipeline figures of this `npm run bench` (postgres+nats). */
function ratios(peerJobsPerSecond: number, peerP50: number, peerP99: number): void {
  if (!existsSync(HODEI_FIGURES)) return;
  const figures = readFileSync(HODEI_FIGURES, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, number | string>)
    .filter((f) => f.deployment === 'postgres+nats' && f.tracing === undefined);
  const throughput = figures.find((f) => f.figure === 'throughput');
  const latency = figures.find((f) => f.figure === 'queue_to_start_ms');
  if (!throughput || !latency) return;
  const round = (v: number) => Math.round(v * 100) / 100;
  emit({
    figure: 'vs_peer',
    peer: PEER,
    deployment: 'postgres+nats',
    throughputRatio: round(Number(throughput.jobsPerSecond) / peerJobsPerSecond),
    queueToStartP50Ratio: round(Number(latency.p50) / peerP50),
    queueToStartP99Ratio: round(Number(latency.p99) / peerP99),
  });
}

await main();
