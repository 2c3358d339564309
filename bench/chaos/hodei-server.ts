// One real `hodei server` process (the dist build) on the chaos harness's own PostgreSQL and
// NATS, on a fixed port so a restart comes back where the workers and the client look for it.
// Its stderr goes to a log file; an exit the harness did not cause is counted, never hidden.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import path from 'node:path';
import { createClient, type Client } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { JobService } from '../../src/gen/hodei/v1/job_pb.js';
import { OpsService } from '../../src/gen/hodei/v1/ops_pb.js';

export const ROOT = path.resolve(import.meta.dirname, '../../..');
export const HODEI_BIN = path.join(ROOT, 'bin/hodei.js');
export const SERVER_PORT = 55051;

/** What every scenario's server runs with (shortened intervals: faster recovery, reported). */
export const CHAOS_SETTINGS: Record<string, string> = {
  HODEI_MAX_WORKERS: '4',
  HODEI_HEARTBEAT_INTERVAL: '500ms',
  HODEI_MISSED_HEARTBEATS: '3',
  HODEI_REAPER_INTERVAL: '5s',
  HODEI_RECONCILE_INTERVAL: '5s',
  HODEI_WORKER_IDLE_TTL: '30s',
  HODEI_LOG_LEVEL: 'info',
};

export interface ChaosServer {
  readonly url: string;
  readonly subjectPrefix: string;
  readonly pid: number | undefined;
  /** True once the harness killed or stopped it (and did not start it again yet). */
  readonly down: boolean;
  jobs: Client<typeof JobService>;
  ops: Client<typeof OpsService>;
  /** Exits the harness did not ask for, with their code or signal. */
  unexpectedExits: string[];
  start(): Promise<void>;
  kill(): Promise<void>;
  stop(): Promise<void>;
  logFile: string;
}

export interface ChaosServerOptions {
  databaseUrl: string;
  natsUrl: string;
  name: string;
  logDir: string;
  env?: Record<string, string>;
}

/** Every server process alive now, so a Ctrl-C can stop them (main.ts). */
const live = new Set<ChildProcess>();

/** SIGKILLs every server process still alive (cleanup on error or Ctrl-C). */
export function killLiveServers(): void {
  for (const p of live) p.kill('SIGKILL');
}

export function chaosServer(options: ChaosServerOptions): ChaosServer {
  const url = `http://127.0.0.1:${SERVER_PORT}`;
  const logFile = path.join(options.logDir, `server-${options.name}.log`);
  let log: WriteStream | undefined;
  let proc: ChildProcess | undefined;
  let expectingExit = false;
  const unexpectedExits: string[] = [];
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    ...CHAOS_SETTINGS,
    HODEI_DATABASE_URL: options.databaseUrl,
    HODEI_NATS_URL: options.natsUrl,
    HODEI_LISTEN: `127.0.0.1:${SERVER_PORT}`,
    HODEI_URL: url,
    HODEI_STREAM: `CHAOS_${options.name.replace(/\W/g, '_').toUpperCase()}`,
    HODEI_SUBJECT_PREFIX: `chaos.${options.name.replace(/\W/g, '_')}`,
    HODEI_CONSUMER: `saga-${options.name.replace(/\W/g, '_')}`,
    ...options.env,
  };
  const transport = createConnectTransport({ baseUrl: url, httpVersion: '1.1' });

  function exited(p: ChildProcess): Promise<void> {
    if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => p.once('exit', () => resolve()));
  }

  const server: ChaosServer = {
    url,
    subjectPrefix: env.HODEI_SUBJECT_PREFIX ?? '',
    get pid() {
      return proc?.pid;
    },
    get down() {
      return expectingExit;
    },
    jobs: createClient(JobService, transport),
    ops: createClient(OpsService, transport),
    unexpectedExits,
    logFile,
    async start() {
      log ??= createWriteStream(logFile, { flags: 'a' });
      const out = log;
      expectingExit = false;
      const p = spawn(process.execPath, [HODEI_BIN, 'server'], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      proc = p;
      live.add(p);
      p.once('exit', () => live.delete(p));
      let seen = '';
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`server did not start: ${seen}`)), 30_000);
        p.stderr?.on('data', (chunk: Buffer) => {
          out.write(chunk);
          if (seen.length < 100_000) seen += chunk.toString();
          if (/listening on http/.test(seen)) {
            clearTimeout(timer);
            resolve();
          }
        });
        p.stdout?.on('data', (chunk: Buffer) => out.write(chunk));
        p.once('exit', (code, signal) => {
          clearTimeout(timer);
          if (!expectingExit) unexpectedExits.push(`${code ?? signal}`);
          reject(new Error(`server exited with ${code ?? signal}: ${seen.slice(-2000)}`));
        });
      });
    },
    async kill() {
      if (!proc) return;
      expectingExit = true;
      proc.kill('SIGKILL');
      await exited(proc);
    },
    async stop() {
      if (!proc) return;
      expectingExit = true;
      proc.kill('SIGTERM');
      const p = proc;
      const timer = setTimeout(() => p.kill('SIGKILL'), 15_000);
      await exited(p);
      clearTimeout(timer);
      log?.end();
      log = undefined;
    },
  };
  return server;
}
