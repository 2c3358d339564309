// withServer: starts a real `hodei server` process (dist build) against a fresh database and its
// own stream, subjects and consumer, and stops it afterwards. Both deployments are supported:
// PostgreSQL + NATS JetStream, and embedded (PGlite + the PostgreSQL-table bus).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createClient, type Client } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { JobService } from '../../src/gen/hodei/v1/job_pb.js';
import { OpsService } from '../../src/gen/hodei/v1/ops_pb.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { NATS_URL, deleteStream } from './env.js';
import type { Db } from '../../src/db/db.js';
import { createPgliteDb } from '../../src/db/pglite/pglite-db.js';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const HODEI_BIN = path.join(ROOT, 'bin/hodei.js');

export type Deployment = 'postgres+nats' | 'embedded';

export interface TestServer {
  url: string;
  /** The bus subjects' prefix (postgres+nats), '' for embedded. */
  subjectPrefix: string;
  proc: ChildProcess;
  /** The JetStream stream the server uses (postgres+nats only). */
  streamName: string | undefined;
  /** The server's database (postgres+nats only). */
  databaseUrl: string | undefined;
  jobs: Client<typeof JobService>;
  ops: Client<typeof OpsService>;
  /** Everything the server wrote to stderr so far. */
  log(): string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit (a crash). */
  kill(): Promise<void>;
  /** Starts the server again on the same database / data directory and port. */
  restart(): Promise<void>;
  cleanup(): Promise<void>;
  /** Opens the server's database (the server must be stopped for the embedded one). */
  openDb(): Promise<Db>;
}

export interface ServerOptions {
  deployment?: Deployment;
  env?: Record<string, string>;
  /** postgres+nats: another NATS than the shared one (a test's own nats-server). */
  natsUrl?: string;
  /** postgres+nats: the URL the server is given for its fresh database (through a proxy, say). */
  databaseUrl?: (url: string) => string;
  /** PEM CA bundle file the test's clients (jobs, ops) verify an https:// server with. */
  ca?: string;
}

function waitForListening(
  proc: ChildProcess,
  output: { text: string },
  from: number,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`server did not start:\n${output.text.slice(from)}`)),
      30_000,
    );
    const onData = (chunk: Buffer) => {
      output.text += chunk.toString();
      const match = /listening on (https?:\/\/[^\s,)]+)/.exec(output.text.slice(from));
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    proc.stderr?.on('data', onData);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${output.text.slice(from)}`));
    });
  });
}

function exited(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => proc.once('exit', () => resolve()));
}

export async function startTestServer(options: ServerOptions = {}): Promise<TestServer> {
  const deployment = options.deployment ?? 'postgres+nats';
  const suffix = randomBytes(4).toString('hex');
  let database: TestDatabase | undefined;
  let dataDir: string | undefined;
  let keyDir: string | undefined;
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    HODEI_LOG_LEVEL: 'info',
    HODEI_LISTEN: '127.0.0.1:0',
    HODEI_HEARTBEAT_INTERVAL: '500ms',
    HODEI_WORKER_IDLE_TTL: '30s',
    ...options.env,
  };
  delete env.HODEI_DATABASE_URL;
  delete env.HODEI_NATS_URL;
  let args: string[];
  if (deployment === 'postgres+nats') {
    database = await createTestDatabase();
    env.HODEI_DATABASE_URL = options.databaseUrl?.(database.url) ?? database.url;
    env.HODEI_NATS_URL = options.natsUrl ?? NATS_URL;
    env.HODEI_STREAM = `T_${suffix}`;
    env.HODEI_SUBJECT_PREFIX = `t${suffix}.events`;
    env.HODEI_CONSUMER = `saga-processor-${suffix}`;
    // The secrets key file the server makes at its first start (kept across restarts), in a
    // directory of the test's own rather than the working directory's .hodei.
    if (env.HODEI_SECRETS_KEY === undefined && env.HODEI_SECRETS_KEY_FILE === undefined) {
      keyDir = await mkdtemp(path.join(tmpdir(), 'hodei-key-'));
      env.HODEI_SECRETS_KEY_FILE = path.join(keyDir, 'secrets.key');
    }
    args = ['server'];
  } else {
    dataDir = await mkdtemp(path.join(tmpdir(), 'hodei-e2e-'));
    args = ['dev', '--data-dir', dataDir, '--port', '0'];
  }

  let proc!: ChildProcess;
  let url = '';
  const output = { text: '' };
  async function launch(port: string): Promise<void> {
    const launchArgs = deployment === 'embedded' ? args.map((a) => (a === '0' ? port : a)) : args;
    const launchEnv = { ...env, HODEI_LISTEN: `127.0.0.1:${port}` };
    proc = spawn(process.execPath, [HODEI_BIN, ...launchArgs], {
      env: launchEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout?.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
    url = await waitForListening(proc, output, output.text.length);
  }
  await launch('0');
  const ca = options.ca === undefined ? undefined : await readFile(options.ca, 'utf8');
  const transport = () =>
    createConnectTransport({
      baseUrl: url,
      httpVersion: '1.1',
      ...(ca === undefined ? {} : { nodeOptions: { ca } }),
    });
  const server: TestServer = {
    streamName: env.HODEI_STREAM,
    databaseUrl: database?.url,
    get url() {
      return url;
    },
    subjectPrefix: env.HODEI_SUBJECT_PREFIX ?? '',
    get proc() {
      return proc;
    },
    jobs: createClient(JobService, transport()),
    ops: createClient(OpsService, transport()),
    log: () => output.text,
    async stop() {
      proc.kill('SIGTERM');
      await exited(proc);
    },
    async kill() {
      proc.kill('SIGKILL');
      await exited(proc);
    },
    async restart() {
      await launch(new URL(url).port);
    },
    async openDb() {
      if (database) return database.open();
      return createPgliteDb({ dataDir: dataDir ?? '' });
    },
    async cleanup() {
      if (proc.exitCode === null && proc.signalCode === null) await server.stop();
      await database?.drop();
      // Each stream reserves its HODEI_STREAM_MAX_BYTES in JetStream: one left behind per test
      // server soon leaves no room for new ones.
      if (deployment === 'postgres+nats' && !options.natsUrl)
        await deleteStream(env.HODEI_STREAM ?? '');
      if (dataDir) await rm(dataDir, { recursive: true, force: true });
      if (keyDir) await rm(keyDir, { recursive: true, force: true });
    },
  };
  return server;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout exactly as written (a job's output need not be text). */
  stdoutBytes: Buffer;
  ms: number;
}

export interface CliProcess {
  proc: ChildProcess;
  /** stderr so far. */
  stderr(): string;
  /** Resolves when the CLI exits. */
  done: Promise<CliResult>;
}

/** Starts the `hodei` CLI as a real process; `done` resolves with what it printed. */
export function startCli(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 60_000,
): CliProcess {
  const started = Date.now();
  const proc = spawn(process.execPath, [HODEI_BIN, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  let stderr = '';
  proc.stdout.on('data', (c: Buffer) => out.push(c));
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<CliResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`hodei ${args.join(' ').slice(0, 200)} timed out:\n${stderr}`));
    }, timeoutMs);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      resolve({
        code,
        stdout: stdoutBytes.toString(),
        stderr,
        stdoutBytes,
        ms: Date.now() - started,
      });
    });
  });
  return { proc, stderr: () => stderr, done };
}

/** Runs the `hodei` CLI as a real process. */
export function runCli(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 60_000,
): Promise<CliResult> {
  return startCli(args, env, timeoutMs).done;
}
