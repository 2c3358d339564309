// The chaos harness's own services, so it can stop and start them without touching the shared
// ones: a PostgreSQL cluster (initdb into a temp dir, 127.0.0.1:55432, its unix socket in the
// temp dir) and a nats-server with JetStream (127.0.0.1:14222, its store in the temp dir).
// Run as root, PostgreSQL's binaries run as user `postgres`, who owns the temp dir.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export const PG_PORT = 55432;
export const NATS_PORT = 14222;
const NATS_BIN = process.env.CHAOS_NATS_SERVER ?? '/usr/sbin/nats-server';

export interface Service {
  readonly url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  restart(): Promise<void>;
}

function pgBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  const found = versions.map((v) => path.join(root, v, 'bin')).find((d) => existsSync(d));
  if (!found) throw new Error('no PostgreSQL binaries under /usr/lib/postgresql/*/bin');
  return found;
}

const asRoot = process.getuid?.() === 0;

function runPg(bin: string, args: string[]): void {
  const full = path.join(pgBinDir(), bin);
  const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', full, ...args]] : [full, args];
  const result = spawnSync(cmd, argv, { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(`${bin} ${args.join(' ')} failed: ${result.stderr || result.stdout}`);
  }
}

export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** initdb + pg_ctl start of a cluster of its own under `dir`. */
export async function startPostgres(dir: string, port = PG_PORT): Promise<Service> {
  if (await portOpen(port)) throw new Error(`port ${port} is already in use`);
  const data = path.join(dir, 'pgdata');
  const sockets = path.join(dir, 'pgsock');
  mkdirSync(sockets, { recursive: true });
  if (asRoot) {
    const ids = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim();
    const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim();
    for (const p of [dir, sockets]) chownSync(p, Number(ids), Number(gid));
  }
  runPg('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  const ctl = (action: string, extra: string[] = []) =>
    runPg('pg_ctl', [
      '-D',
      data,
      '-l',
      path.join(dir, 'postgres.log'),
      '-w',
      '-t',
      '60',
      ...extra,
      action,
    ]);
  const options = [
    '-o',
    `-p ${port} -k ${sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`,
  ];
  const service: Service = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start: () => new Promise<void>((resolve) => resolve(ctl('start', options))),
    stop: () => new Promise<void>((resolve) => resolve(ctl('stop', ['-m', 'fast']))),
    restart: () =>
      new Promise<void>((resolve) => resolve(ctl('restart', ['-m', 'fast', ...options]))),
  };
  await service.start();
  return service;
}

/** A nats-server with JetStream of its own; stop and start keep the same store directory. */
export async function startNats(dir: string, port = NATS_PORT): Promise<Service> {
  if (await portOpen(port)) throw new Error(`port ${port} is already in use`);
  const store = path.join(dir, 'jetstream');
  let proc: ChildProcess | undefined;
  const service: Service = {
    url: `nats://127.0.0.1:${port}`,
    async start() {
      proc = spawn(NATS_BIN, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', store], {
        stdio: 'ignore',
      });
      const deadline = Date.now() + 15_000;
      while (!(await portOpen(port))) {
        if (Date.now() > deadline) throw new Error('nats-server did not start');
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      const p = proc;
      proc = undefined;
      if (!p || p.exitCode !== null || p.signalCode !== null) return;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await exited;
    },
    async restart() {
      await service.stop();
      await service.start();
    },
  };
  await service.start();
  return service;
}
