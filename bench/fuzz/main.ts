// `npm run fuzz`: the long API fuzz run (10,000 requests by default) against a real `hodei server`
// process on its own PostgreSQL database and JetStream stream, with auth on: most requests carry
// an admin token, some none and some a bogus one. Prints one JSON line of figures: answers by
// code and transport, violations (answers that are not OK or a client error naming a field), the
// server's RSS before, at its peak and after, and whether the jobs table holds exactly the jobs
// the server said it accepted; then checks the server still runs `echo`. Exit 1 on a violation.
// Options: --runs N, --seed S, --concurrency C.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { createClient, type Interceptor } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { JobService } from '../../src/gen/hodei/v1/job_pb.js';
import { runFuzz } from './fuzz-api.js';

const withToken =
  (token: string): Interceptor =>
  (next) =>
  (req) => {
    req.header.set('authorization', `Bearer ${token}`);
    return next(req);
  };

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? fallback) : fallback;
};
const RUNS = Number(arg('runs', '10000'));
const SEED = Number(arg('seed', String(Date.now() % 2 ** 31)));
const CONCURRENCY = Number(arg('concurrency', '8'));
const PG_ADMIN = process.env.HODEI_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const NATS = process.env.HODEI_BENCH_NATS_URL ?? 'nats://127.0.0.1:4222';
const HODEI_BIN = path.resolve(import.meta.dirname, '../../../bin/hodei.js');

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
}

function run(cmd: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [HODEI_BIN, ...cmd], { env: { ...process.env, ...env } });
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    p.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`hodei ${cmd.join(' ')}: ${err}`)),
    );
  });
}

async function main(): Promise<number> {
  const suffix = `${process.pid}_${Date.now()}`;
  const name = `hodei_fuzz_${suffix}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  const dbUrl = new URL(PG_ADMIN);
  dbUrl.pathname = `/${name}`;
  const env = {
    HODEI_DATABASE_URL: dbUrl.toString(),
    HODEI_NATS_URL: NATS,
    HODEI_STREAM: `FUZZ_${suffix}`,
    HODEI_SUBJECT_PREFIX: `fuzz${suffix}.events`,
    HODEI_CONSUMER: `fuzz-${suffix}`,
    HODEI_LISTEN: '127.0.0.1:0',
    HODEI_AUTH: 'token',
    HODEI_MAX_WORKERS: '2',
    HODEI_LOG_LEVEL: 'warn',
  };
  const token = (await run(['token', 'create', '--name', 'fuzz', '--scope', 'admin'], env)).trim();
  const server = spawn(process.execPath, [HODEI_BIN, 'server'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  const url = await new Promise<string>((resolve, reject) => {
    server.stderr.on('data', (c: Buffer) => {
      log += c.toString();
      const m = /listening on (http:\/\/[^\s,)]+)/.exec(log);
      if (m?.[1]) resolve(m[1]);
    });
    server.on('exit', (code) => reject(new Error(`server exited with ${code}: ${log}`)));
  });
  const db = new pg.Client({ connectionString: dbUrl.toString() });
  await db.connect();
  try {
    const pid = server.pid ?? 0;
    await new Promise((r) => setTimeout(r, 2000));
    const before = rssMb(pid);
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 200);
    // 1 in 10 without a token, 1 in 20 with a bogus one; the rest as admin.
    const figures = await runFuzz({
      url,
      runs: RUNS,
      seed: SEED,
      concurrency: CONCURRENCY,
      authorization: (i) =>
        i % 10 === 3
          ? undefined
          : i % 20 === 7
            ? `Bearer hodei_${'A'.repeat(43)}`
            : `Bearer ${token}`,
    });
    clearInterval(sampler);
    const after = rssMb(pid);
    const stored = await db.query<{ id: string }>('SELECT id FROM jobs');
    const ids = new Set(stored.rows.map((r) => r.id));
    const storedExactly =
      ids.size === figures.acceptedJobIds.size &&
      [...ids].every((id) => figures.acceptedJobIds.has(id));
    // Accepted jobs are cancelled, then the server must still run an echo.
    const bearer = { HODEI_TOKEN: token };
    const jobs = createClient(
      JobService,
      createGrpcTransport({ baseUrl: url, interceptors: [withToken(token)] }),
    );
    const pending = [...figures.acceptedJobIds];
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let id = pending.pop(); id !== undefined; id = pending.pop()) {
          await jobs.cancelJob({ id }).catch(() => undefined); // finished already: nothing to do
        }
      }),
    );
    const echo = await run(['--url', url, 'run', '--', 'echo', 'still-here'], bearer);
    await new Promise((r) => setTimeout(r, 3000));
    const settled = rssMb(pid);
    console.log(
      JSON.stringify({
        figure: 'api-fuzz',
        seed: SEED,
        requests: figures.requests,
        seconds: Math.round(figures.seconds * 10) / 10,
        requestsPerSecond: Math.round(figures.requests / figures.seconds),
        byTransport: figures.byTransport,
        byCode: figures.byCode,
        violations: figures.violations.length,
        violationExamples: figures.violations.slice(0, 5),
        acceptedJobs: figures.acceptedJobIds.size,
        storedExactlyAccepted: storedExactly,
        rssMb: { before, peak, after, settled },
        echoAfter: echo.trim(),
      }),
    );
    return figures.violations.length === 0 && storedExactly && echo.trim() === 'still-here' ? 0 : 1;
  } finally {
    await db.end();
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    const { connect } = await import('@nats-io/transport-node');
    const { jetstreamManager } = await import('@nats-io/jetstream');
    const nc = await connect({ servers: NATS });
    await (await jetstreamManager(nc)).streams.delete(env.HODEI_STREAM).catch(() => false);
    await nc.close();
    const a = new pg.Client({ connectionString: PG_ADMIN });
    await a.connect();
    await a.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await a.end();
  }
}

process.exitCode = await main();
