// Output benchmarks: how fast a job's output gets from the job to `hodei run`'s stdout, stored
// durably on the way, and how much memory the server and the worker agent need for it. The
// server runs as its own process (so its memory is its own), for each deployment:
//   output_lines   — `hodei run -- seq 1 1000000` (6.9 MB): seconds and MB/s, byte-identity
//                    checked, next to `seq 1 1000000 | cat > /dev/null` timed in the same run
//   output_bulk    — `hodei run` of a job writing 100 MB (--output-mb): seconds and MB/s
//   peak RSS       — the most resident memory of the server and of the agent seen during each
//                    run (sampled every 50 ms), next to the server's before it
// Usage: node dist-bench/bench/output.js [--only postgres+nats|embedded] [--output-mb N]
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { arg } from './args.js';

type Deployment = 'postgres+nats' | 'embedded';
const ONLY = arg('only', '');
const OUTPUT_MB = Number(arg('output-mb', '100'));
const PG_ADMIN = process.env.HODEI_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const NATS = process.env.HODEI_BENCH_NATS_URL ?? 'nats://127.0.0.1:4222';
const HODEI = path.resolve(import.meta.dirname, '../../bin/hodei.js');

function emit(figure: Record<string, unknown>): void {
  console.log(JSON.stringify(figure));
}

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

/** Resident memory (VmRSS) of a process, in MB; 0 once it is gone. */
function rssMb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/** Samples the server's and the agents' memory while `body` runs; returns the peaks (MB). */
async function peakDuring<T>(
  serverPid: number,
  body: () => Promise<T>,
): Promise<{ result: T; serverMb: number; agentMb: number }> {
  let serverMb = 0;
  let agentMb = 0;
  const sample = () => {
    serverMb = Math.max(serverMb, rssMb(serverPid));
    for (const pid of agentPids()) agentMb = Math.max(agentMb, rssMb(pid));
  };
  const timer = setInterval(sample, 50);
  try {
    const result = await body();
    sample();
    return { result, serverMb: round(serverMb, 1), agentMb: round(agentMb, 1) };
  } finally {
    clearInterval(timer);
  }
}

/** Pids of the `hodei worker` agents started under this server. */
function agentPids(): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        return cmdline[0]?.endsWith('node') === true && cmdline.includes('worker');
      } catch {
        return false;
      }
    })
    .map(Number);
}

interface Started {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

async function startServerProcess(deployment: Deployment): Promise<Started> {
  const suffix = `${process.pid}_${randomBytes(3).toString('hex')}`;
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    HODEI_LISTEN: '127.0.0.1:0',
    HODEI_LOG_LEVEL: 'warn',
    HODEI_MAX_JOB_OUTPUT: `${OUTPUT_MB + 16}MiB`,
  };
  delete env.HODEI_DATABASE_URL;
  delete env.HODEI_NATS_URL;
  const cleanups: Array<() => Promise<void>> = [];
  let argv: string[];
  if (deployment === 'postgres+nats') {
    const name = `hodei_bench_out_${suffix}`;
    const admin = new pg.Client({ connectionString: PG_ADMIN });
    await admin.connect();
    await admin.query(`CREATE DATABASE "${name}"`);
    await admin.end();
    const url = new URL(PG_ADMIN);
    url.pathname = `/${name}`;
    Object.assign(env, {
      HODEI_DATABASE_URL: url.toString(),
      HODEI_NATS_URL: NATS,
      HODEI_STREAM: `BENCHOUT_${suffix}`,
      HODEI_SUBJECT_PREFIX: `benchout${suffix}.events`,
      HODEI_CONSUMER: `benchout-${suffix}`,
    });
    argv = ['server'];
    cleanups.push(async () => {
      const a = new pg.Client({ connectionString: PG_ADMIN });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await a.end();
      const { connect } = await import('@nats-io/transport-node');
      const { jetstreamManager } = await import('@nats-io/jetstream');
      const nc = await connect({ servers: NATS });
      await (await jetstreamManager(nc)).streams.delete(env.HODEI_STREAM ?? '').catch(() => false);
      await nc.close();
    });
  } else {
    const dir = await mkdtemp(path.join(tmpdir(), 'hodei-bench-out-'));
    argv = ['dev', '--data-dir', dir, '--port', '0'];
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
  }
  const proc = spawn(process.execPath, [HODEI, ...argv], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let text = '';
    proc.stderr.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const match = /listening on (http:\/\/[^\s,)]+)/.exec(text);
      if (match?.[1]) resolve(match[1]);
    });
    proc.once('exit', (code) => reject(new Error(`server exited with ${code}: ${text}`)));
  });
  return {
    url,
    pid: proc.pid ?? 0,
    async stop() {
      proc.kill('SIGTERM');
      await new Promise((resolve) => proc.once('exit', resolve));
      for (const cleanup of cleanups) await cleanup();
    },
  };
}

/** Runs `hodei run -- …`, reading its stdout; resolves with seconds, bytes and their md5. */
function hodeiRun(url: string, command: string[]) {
  return new Promise<{ seconds: number; bytes: number; md5: string; code: number | null }>(
    (resolve) => {
      const started = performance.now();
      const cli = spawn(process.execPath, [HODEI, '--url', url, 'run', '--', ...command], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const hash = createHash('md5');
      let bytes = 0;
      cli.stdout.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        hash.update(chunk);
      });
      cli.once('exit', (code) =>
        resolve({
          seconds: (performance.now() - started) / 1000,
          bytes,
          md5: hash.digest('hex'),
          code,
        }),
      );
    },
  );
}

function floorSeconds(): number {
  const started = performance.now();
  spawnSync('sh', ['-c', 'seq 1 1000000 | cat > /dev/null']);
  return (performance.now() - started) / 1000;
}

async function measure(deployment: Deployment): Promise<void> {
  const server = await startServerProcess(deployment);
  try {
    await hodeiRun(server.url, ['true']); // a warm worker: cold start is measured elsewhere
    const idleServerMb = round(rssMb(server.pid), 1);
    const expected = createHash('md5');
    for (let i = 1; i <= 1_000_000; i += 1) expected.update(`${i}\n`);
    const lines = await peakDuring(server.pid, () => hodeiRun(server.url, ['seq', '1', '1000000']));
    const floor = floorSeconds();
    emit({
      deployment,
      figure: 'output_lines',
      command: 'seq 1 1000000',
      bytes: lines.result.bytes,
      identical: lines.result.md5 === expected.digest('hex') && lines.result.code === 0,
      seconds: round(lines.result.seconds),
      mbPerSecond: round(lines.result.bytes / 1e6 / lines.result.seconds, 1),
      floorSeconds: round(floor, 3),
      peakServerMb: lines.serverMb,
      peakAgentMb: lines.agentMb,
    });
    const bulk = await peakDuring(server.pid, () =>
      hodeiRun(server.url, [
        'sh',
        '-c',
        `head -c ${OUTPUT_MB * 1_000_000} /dev/zero | tr '\\0' 'x'`,
      ]),
    );
    emit({
      deployment,
      figure: 'output_bulk',
      bytes: bulk.result.bytes,
      complete: bulk.result.bytes === OUTPUT_MB * 1_000_000 && bulk.result.code === 0,
      seconds: round(bulk.result.seconds),
      mbPerSecond: round(bulk.result.bytes / 1e6 / bulk.result.seconds, 1),
      idleServerMb,
      peakServerMb: bulk.serverMb,
      peakAgentMb: bulk.agentMb,
    });
  } finally {
    await server.stop();
  }
}

const deployments: Deployment[] = ONLY ? [ONLY as Deployment] : ['postgres+nats', 'embedded'];
for (const deployment of deployments) await measure(deployment);
