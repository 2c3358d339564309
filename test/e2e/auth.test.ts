// API tokens end to end on PostgreSQL + NATS, with real processes: a server with auth on refuses
// calls without a valid token, the first admin token is made on the database directly, scopes are
// enforced per RPC (read cannot queue, submit reads and cancels only its own jobs, only admin
// reaches OpsService), jobs and their events record which token queued and cancelled them, a
// revoked token is refused at once, and only a hash of each token is stored.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Code, createClient, type Interceptor } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { JobService, JobState } from '../../src/gen/hodei/v1/job_pb.js';
import { OpsService } from '../../src/gen/hodei/v1/ops_pb.js';
import { runCli, startTestServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/procs.js';
import { rpcError } from '../helpers/rpc-error.js';

let server: TestServer;
const tokens: Record<string, string> = {};

function clientsFor(token: string | undefined) {
  const bearer: Interceptor = (next) => (req) => {
    if (token !== undefined) req.header.set('authorization', `Bearer ${token}`);
    return next(req);
  };
  const transport = createConnectTransport({
    baseUrl: server.url,
    httpVersion: '1.1',
    interceptors: [bearer],
  });
  return { jobs: createClient(JobService, transport), ops: createClient(OpsService, transport) };
}

const cli = (args: string[], token?: string) =>
  runCli(['--url', server.url, ...args], token === undefined ? {} : { HODEI_TOKEN: token });

beforeAll(async () => {
  server = await startTestServer({ env: { HODEI_AUTH: 'token', HODEI_METRICS_AUTH: 'token' } });
});
afterAll(async () => {
  await server?.cleanup();
});

describe('API tokens (postgres+nats)', () => {
  it('says auth is on, and how to make the first token', async () => {
    expect(server.log()).toMatch(/listening on http:\/\/\S+ \(.*auth: API tokens required\)/);
    const hint = /No API token exists yet: make the first with "hodei token create/;
    await waitFor('the first-token hint', () => hint.test(server.log()) || undefined, 5000);
  });

  it('refuses every call without a valid token, naming what is missing', async () => {
    const none = await rpcError(clientsFor(undefined).jobs.listJobs({}));
    expect(none.code).toBe(Code.Unauthenticated);
    expect(none.rawMessage).toMatch(/requires an API token.*HODEI_TOKEN/);
    const bogus = await rpcError(clientsFor(`hodei_${'x'.repeat(43)}`).jobs.listJobs({}));
    expect(bogus.code).toBe(Code.Unauthenticated);
    expect(bogus.rawMessage).toBe('the API token is not valid (unknown or revoked)');
    const cliRun = await cli(['job', 'list']);
    expect(cliRun.code).toBe(1);
    expect(cliRun.stderr).toMatch(/requires an API token/);
  });

  it('makes the first admin token on the database, with no server call', async () => {
    const made = await runCli(['token', 'create', '--name', 'admin', '--scope', 'admin'], {
      HODEI_DATABASE_URL: server.databaseUrl ?? '',
    });
    expect(made.code).toBe(0);
    expect(made.stdout).toMatch(/^hodei_[A-Za-z0-9_-]{43}\n$/);
    expect(made.stderr).toMatch(/shown only now/);
    tokens.admin = made.stdout.trim();
    const again = await runCli(['token', 'create', '--name', 'admin', '--scope', 'read'], {
      HODEI_DATABASE_URL: server.databaseUrl ?? '',
    });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/a token named "admin" exists already/);
    const bad = await runCli(['token', 'create', '--name', 'x', '--scope', 'write'], {
      HODEI_DATABASE_URL: server.databaseUrl ?? '',
    });
    expect(bad.stderr).toMatch(/"write" is not a scope \(one of submit, read, cancel, admin\)/);
  });

  it('admin makes the other tokens through the server', async () => {
    for (const [name, scope] of [
      ['sub', 'submit'],
      ['sub2', 'submit'],
      ['reader', 'read'],
      ['canceller', 'cancel'],
    ] as const) {
      const made = await cli(
        ['token', 'create', '--name', name, '--scope', scope, '--json'],
        tokens.admin,
      );
      expect(made.code, made.stderr).toBe(0);
      const parsed = JSON.parse(made.stdout) as { token: string; scopes: string[] };
      expect(parsed.scopes).toEqual([scope]);
      tokens[name] = parsed.token;
    }
    const listed = await cli(['token', 'list', '--json'], tokens.admin);
    const { tokens: views } = JSON.parse(listed.stdout) as { tokens: Array<{ name: string }> };
    expect(views.map((v) => v.name)).toEqual(['admin', 'sub', 'sub2', 'reader', 'canceller']);
    for (const secret of Object.values(tokens)) expect(listed.stdout).not.toContain(secret);
    const denied = await cli(['token', 'list'], tokens.sub);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(
      /token "sub" \(scopes submit\) may not call OpsService\/ListApiTokens; it needs one of: admin/,
    );
  });

  it('submit runs jobs and sees only its own; read reads all and queues none', async () => {
    const run = await cli(['run', '--', 'echo', 'hi'], tokens.sub);
    expect(run.stdout).toBe('hi\n');
    const sub = clientsFor(tokens.sub);
    const { jobs: own } = await sub.jobs.listJobs({});
    expect(own).toHaveLength(1);
    const jobId = own[0]?.id ?? '';
    expect(own[0]?.queuedBy).toBe('sub');
    const shown = await cli(['job', 'get', jobId], tokens.reader);
    expect(shown.stdout).toMatch(/queued by:\s+token sub\n/);

    const other = clientsFor(tokens.sub2);
    expect((await other.jobs.listJobs({})).jobs).toHaveLength(0);
    const notYours = await rpcError(other.jobs.getJob({ id: jobId }));
    expect(notYours.code).toBe(Code.PermissionDenied);
    expect(notYours.rawMessage).toBe('token "sub2" may read only the jobs it queued');
    expect((await rpcError(other.jobs.getJobLogs({ id: jobId }))).code).toBe(Code.PermissionDenied);
    expect((await rpcError(other.jobs.cancelJob({ id: jobId }))).code).toBe(Code.PermissionDenied);

    const reader = clientsFor(tokens.reader);
    expect((await reader.jobs.getJob({ id: jobId })).job?.state).toBe(JobState.SUCCEEDED);
    const queue = await rpcError(reader.jobs.queueJob({ spec: { command: 'true' } }));
    expect(queue.code).toBe(Code.PermissionDenied);
    expect(queue.rawMessage).toMatch(
      /may not call JobService\/QueueJob; it needs one of: submit, admin/,
    );
    expect((await rpcError(reader.jobs.cancelJob({ id: jobId }))).code).toBe(Code.PermissionDenied);
    expect((await rpcError(reader.ops.listWorkers({}))).code).toBe(Code.PermissionDenied);
    expect((await clientsFor(tokens.admin).ops.listWorkers({})).workers.length).toBeGreaterThan(0);
  });

  it("an idempotency key another token used tells nothing of that token's job", async () => {
    const spec = { command: 'true' };
    await clientsFor(tokens.sub).jobs.queueJob({ spec, idempotencyKey: 'k-shared' });
    const taken = await rpcError(
      clientsFor(tokens.sub2).jobs.queueJob({ spec, idempotencyKey: 'k-shared' }),
    );
    expect(taken.code).toBe(Code.AlreadyExists);
    expect(taken.rawMessage).toBe(
      'idempotency_key "k-shared" was used by another API token; use a new key',
    );
  });

  it('records who queued and who cancelled, in the job and in its events', async () => {
    const { job } = await clientsFor(tokens.sub).jobs.queueJob({
      spec: { command: 'sleep', args: ['30'] },
    });
    const id = job?.id ?? '';
    const cancelled = await cli(['job', 'cancel', id], tokens.canceller);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    const after = (await clientsFor(tokens.reader).jobs.getJob({ id })).job;
    expect(after?.state).toBe(JobState.CANCELLED);
    expect(after?.queuedBy).toBe('sub');
    expect(after?.cancelledBy).toBe('canceller');
    const db = await server.openDb();
    try {
      const events = await db.query<{ event_type: string; payload: Record<string, unknown> }>(
        `SELECT event_type, payload FROM outbox_events WHERE aggregate_id = $1 ORDER BY seq`,
        [id],
      );
      const byType = new Map(events.rows.map((r) => [r.event_type, r.payload]));
      expect(JSON.stringify(byType.get('JobQueued'))).toContain('"queuedBy":"sub"');
      expect(JSON.stringify(byType.get('JobCancelled'))).toContain('"cancelledBy":"canceller"');
      const stored = await db.query<{ row: string }>(
        `SELECT row_to_json(t)::text AS row FROM api_tokens t`,
      );
      const all = stored.rows.map((r) => r.row).join('\n');
      for (const secret of Object.values(tokens)) expect(all).not.toContain(secret);
    } finally {
      await db.close();
    }
  });

  it('a revoked token is refused at once', async () => {
    const sub2 = clientsFor(tokens.sub2);
    await sub2.jobs.listJobs({});
    const revoked = await cli(['token', 'revoke', 'sub2'], tokens.admin);
    expect(revoked.stdout).toMatch(/token "sub2" revoked at /);
    expect((await rpcError(sub2.jobs.listJobs({}))).code).toBe(Code.Unauthenticated);
    const again = await cli(['token', 'revoke', 'sub2'], tokens.admin);
    expect(again.stderr).toMatch(/live token sub2 not found/);
  });

  it('/metrics needs a token when HODEI_METRICS_AUTH=token', async () => {
    const without = await fetch(`${server.url}/metrics`);
    expect(without.status).toBe(401);
    const withToken = await fetch(`${server.url}/metrics`, {
      headers: { authorization: `Bearer ${tokens.reader}` },
    });
    expect(withToken.status).toBe(200);
    expect(await withToken.text()).toMatch(/hodei_/);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('a job runs on its worker with auth on (workers need no API token)', async () => {
    const { job } = await clientsFor(tokens.sub).jobs.queueJob({ spec: { command: 'true' } });
    await waitFor('the job to succeed', async () => {
      const j = (await clientsFor(tokens.sub).jobs.getJob({ id: job?.id ?? '' })).job;
      return j?.state === JobState.SUCCEEDED ? true : undefined;
    });
  });
});
