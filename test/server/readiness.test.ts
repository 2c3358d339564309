// /readyz says whether the server can take work: 503 naming the database or the bus while either
// is unreachable, 200 again as soon as both answer; /healthz stays 200 throughout and the server
// carries on. The outages are made with a TCP proxy the test cuts (the shared PostgreSQL and
// NATS are never stopped).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcessServer, type InProcessServer } from '../helpers/in-process-server.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { NATS_URL, PG_ADMIN_URL } from '../helpers/env.js';
import { waitFor } from '../helpers/procs.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

let pgProxy: TcpProxy;
let natsProxy: TcpProxy;
let target: TestDatabase;
let started: InProcessServer;

beforeAll(async () => {
  const pgUrl = new URL(PG_ADMIN_URL);
  const natsUrl = new URL(NATS_URL);
  pgProxy = await startTcpProxy({ host: pgUrl.hostname, port: Number(pgUrl.port || 5432) });
  natsProxy = await startTcpProxy({ host: natsUrl.hostname, port: Number(natsUrl.port || 4222) });
  target = await createTestDatabase();
  const viaProxy = new URL(target.url);
  viaProxy.port = String(pgProxy.port);
  started = await startInProcessServer({
    bus: 'jetstream',
    logLevel: 'silent',
    overrides: {
      databaseUrl: viaProxy.toString(),
      natsUrl: `nats://127.0.0.1:${natsProxy.port}`,
    },
  });
});
afterAll(async () => {
  pgProxy?.restore();
  natsProxy?.restore();
  await started?.stop();
  await target?.drop();
  await pgProxy?.close();
  await natsProxy?.close();
});

async function readyz(): Promise<{ status: number; body: string }> {
  const response = await fetch(`${started.server.url}/readyz`);
  return { status: response.status, body: await response.text() };
}

const until = (what: string, test: (r: { status: number; body: string }) => boolean) =>
  waitFor(
    what,
    async () => {
      const r = await readyz();
      return test(r) ? r : undefined;
    },
    15_000,
    100,
  );

describe('/readyz', () => {
  it('is 200 while the database and the bus answer', async () => {
    expect(await readyz()).toEqual({ status: 200, body: 'ready\n' });
  });

  it('is 503 naming the database while it is unreachable, and 200 when it is back', async () => {
    pgProxy.cut();
    const down = await until('503 for the database', (r) => r.status === 503);
    expect(down.body).toMatch(/^not ready: database: /);
    expect(down.body).not.toMatch(/bus:/);
    expect((await fetch(`${started.server.url}/healthz`)).status).toBe(200);
    pgProxy.restore();
    await until('200 again', (r) => r.status === 200);
  });

  it('is 503 naming the bus while NATS is unreachable, and 200 when it is back', async () => {
    natsProxy.cut();
    const down = await until('503 for the bus', (r) => r.status === 503);
    expect(down.body).toMatch(/^not ready: bus: NATS at nats:\/\/127\.0\.0\.1:\d+ does not answer/);
    natsProxy.restore();
    await until('200 again', (r) => r.status === 200);
  });
});
