// Chaos in small: the bus and the database go away while jobs are queued and run. NATS is a
// nats-server of the test's own (stopped 3 s, started again on the same store); PostgreSQL is
// the shared one behind a TCP proxy that is cut for 3 s (every connection reset, new ones
// refused: a restart as the server sees it). The server never exits; every job ends SUCCEEDED
// once, never two runs at once.
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { startChaosTestRun, type ChaosTestRun } from './chaos-test-run.js';
import { startNats, type Service } from '../../bench/chaos/services.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { PG_ADMIN_URL } from '../helpers/env.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function queueThrough(run: ChaosTestRun, outage: () => Promise<void>): Promise<void> {
  const queuing = (async () => {
    for (let i = 0; i < 4; i++) {
      await run.queue(5, 0.2);
      await sleep(800);
    }
  })();
  await sleep(1000);
  await outage();
  await queuing;
  await run.expectInvariants();
}

describe('chaos: services away', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'hodei-chaos-nats-'));
  let nats: Service | undefined;
  let proxy: TcpProxy | undefined;
  const runs: ChaosTestRun[] = [];
  afterAll(async () => {
    for (const r of runs) await r.cleanup();
    await nats?.stop();
    await proxy?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('NATS down 3 s during 20 jobs: the server stays up, none lost, none twice', async () => {
    nats = await startNats(dir, await freePort());
    const n = nats;
    const run = await startChaosTestRun({ natsUrl: n.url });
    runs.push(run);
    await queueThrough(run, async () => {
      await n.stop();
      await sleep(3000);
      await n.start();
    });
  }, 90_000);

  it('PostgreSQL cut 3 s during 20 jobs: the server stays up, none lost, none twice', async () => {
    const pgUrl = new URL(PG_ADMIN_URL);
    proxy = await startTcpProxy({ host: pgUrl.hostname, port: Number(pgUrl.port || 5432) });
    const p = proxy;
    const run = await startChaosTestRun({
      databaseUrl: (url) => {
        const u = new URL(url);
        u.port = String(p.port);
        return u.toString();
      },
    });
    runs.push(run);
    await queueThrough(run, async () => {
      p.cut();
      await sleep(3000);
      p.restore();
    });
  }, 90_000);
});
