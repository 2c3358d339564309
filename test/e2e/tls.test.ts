// TLS on the one port, end to end with real processes and certificates made with openssl for this
// run: a `hodei server` on PostgreSQL + NATS serving a CA-signed certificate runs `hodei run` on a
// real process-provider worker that verifies it too; a gRPC client (HTTP/2 by ALPN) and Connect
// JSON over HTTP/1.1 both work on the same port; a client that does not trust the CA, and plain
// http:// to the port, are refused with sentences saying what to change; a job's secret crosses
// it to the worker and shows as *** in every read. `hodei dev` with
// --tls-cert/--tls-key and a self-signed certificate gives its workers the certificate itself.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { JobService, JobState } from '../../src/gen/hodei/v1/job_pb.js';
import { runCli, startCli, startTestServer, type TestServer } from '../helpers/server.js';
import { makeTestCerts, type TestCerts } from '../helpers/tls-certs.js';

let certs: TestCerts;
let server: TestServer;

interface Answer {
  status: number;
  body: string;
  alpn: string | false | null;
}

/** One HTTP/1.1 request (https with `ca`, else plain http), and the protocol ALPN chose. */
function request(url: string, ca?: string, body?: string): Promise<Answer> {
  const target = new URL(url);
  const options = {
    method: body === undefined ? 'GET' : 'POST',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    // A connection of its own (no agent), offering only HTTP/1.1 by ALPN.
    agent: false,
    ...(ca === undefined ? {} : { ca, ALPNProtocols: ['http/1.1'] }),
  };
  return new Promise((resolve, reject) => {
    const req = (target.protocol === 'https:' ? https : http).request(target, options, (res) => {
      const socket: unknown = res.socket;
      const alpn =
        socket !== null && typeof socket === 'object' && 'alpnProtocol' in socket
          ? (socket.alpnProtocol as string | false)
          : null;
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, alpn }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const ca = () => readFileSync(certs.caFile, 'utf8');

beforeAll(async () => {
  certs = await makeTestCerts();
  server = await startTestServer({
    env: {
      HODEI_TLS_CERT: certs.certFile,
      HODEI_TLS_KEY: certs.keyFile,
      // What the workers trust (they get it as HODEI_CA); the server itself needs no CA.
      HODEI_CA: certs.caFile,
    },
    ca: certs.caFile,
  });
});
afterAll(async () => {
  await server?.cleanup();
  await certs?.cleanup();
});

describe('TLS on the one port (postgres+nats)', () => {
  it('says https:// and which certificate in its start line', () => {
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(server.log()).toContain(`listening on ${server.url} (`);
    expect(server.log()).toContain(`tls: ${certs.certFile}`);
  });

  it('runs a job with the CLI on a worker that verifies the server too', async () => {
    const run = await runCli(['--url', server.url, 'run', '--', 'echo', 'hi'], {
      HODEI_CA: certs.caFile,
    });
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe('hi\n');
    expect(run.code).toBe(0);
    // The worker that ran it was given the https:// address and the CA it verifies it with.
    const { workers } = await server.ops.listWorkers({});
    const worker = workers.find((w) => w.jobsRun > 0);
    expect(worker).toBeDefined();
    const environ = readFileSync(`/proc/${worker?.externalId}/environ`, 'utf8').split('\0');
    expect(environ).toContain(`HODEI_URL=${server.url}`);
    expect(environ).toContain(`HODEI_CA=${certs.caFile}`);
  });

  it('serves gRPC over HTTP/2 and Connect JSON over HTTP/1.1 on the same port', async () => {
    const grpc = createClient(
      JobService,
      createGrpcTransport({ baseUrl: server.url, nodeOptions: { ca: ca() } }),
    );
    const { jobs } = await grpc.listJobs({});
    expect(jobs.map((j) => [j.spec?.command, j.state])).toEqual([['echo', JobState.SUCCEEDED]]);

    const connect = await request(`${server.url}/hodei.v1.JobService/ListJobs`, ca(), '{}');
    expect(connect.alpn).toBe('http/1.1');
    expect(connect.status).toBe(200);
    const parsed = JSON.parse(connect.body) as { jobs: Array<{ id: string; state: string }> };
    expect(parsed.jobs.map((j) => [j.id, j.state])).toEqual([[jobs[0]?.id, 'JOB_STATE_SUCCEEDED']]);

    expect(await request(`${server.url}/healthz`, ca())).toMatchObject({
      status: 200,
      body: 'ok\n',
    });
    const metrics = await request(`${server.url}/metrics`, ca());
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(/^hodei_jobs_queued_total 1$/m);
  });

  it('a client without the CA is refused with a sentence naming the URL and --ca/HODEI_CA', async () => {
    const without = await runCli(['--url', server.url, 'job', 'list']);
    expect(without.code).toBe(1);
    expect(without.stderr).toBe(
      `hodei: the server at ${server.url} presented a certificate this client does not trust (unable to verify the first certificate; trusted: the system trust store): give the CA that signed it with --ca FILE or HODEI_CA\n`,
    );
    const wrongCa = await runCli(['--url', server.url, '--ca', certs.otherCaFile, 'job', 'list']);
    expect(wrongCa.code).toBe(1);
    expect(wrongCa.stderr).toMatch(
      new RegExp(`does not trust \\(.*; trusted: --ca ${certs.otherCaFile}\\): give the CA`),
    );
    const grpc = createClient(JobService, createGrpcTransport({ baseUrl: server.url }));
    const refused = await grpc.listJobs({}).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(refused?.message).toMatch(/unable to verify the first certificate/);
    const missing = await runCli([
      '--url',
      server.url,
      '--ca',
      '/nonexistent/ca.pem',
      'job',
      'list',
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe('hodei: --ca: cannot read /nonexistent/ca.pem: no such file\n');
  });

  it('plain http:// to the TLS port is refused, saying to use https://', async () => {
    const plainUrl = server.url.replace('https://', 'http://');
    const expected = `this port serves TLS only: use ${server.url}`;
    const cli = await runCli(['--url', plainUrl, 'job', 'list']);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toBe(`hodei: ${expected}\n`);
    const grpc = createClient(JobService, createGrpcTransport({ baseUrl: plainUrl }));
    const refused = await grpc.listJobs({}).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(refused?.code).toBe(Code.FailedPrecondition);
    expect(refused?.rawMessage).toBe(expected);
    expect(await request(`${plainUrl}/healthz`)).toMatchObject({
      status: 400,
      body: `${expected}\n`,
    });
    const connect = await request(`${plainUrl}/hodei.v1.JobService/ListJobs`, undefined, '{}');
    expect(connect.status).toBe(400);
    expect(JSON.parse(connect.body)).toEqual({ code: 'failed_precondition', message: expected });
  });

  it('a job reads its secret over TLS; job get, job logs and WatchJob never show it', async () => {
    const value = `tls-secret-${Date.now()}`;
    const dir = await mkdtemp(path.join(tmpdir(), 'hodei-tls-secret-'));
    try {
      const file = path.join(dir, 'token');
      await writeFile(file, `${value}\n`);
      const submitted = await runCli(
        [
          '--url',
          server.url,
          'job',
          'submit',
          '--json',
          '--secret',
          `TOKEN=@${file}`,
          '--',
          'sh',
          '-c',
          `test "$TOKEN" = "$(printf "tls-secret-%s" ${value.slice(11)})" && echo match; echo "token=$TOKEN"`,
        ],
        { HODEI_CA: certs.caFile },
      );
      expect(submitted.code).toBe(0);
      const { jobId } = JSON.parse(submitted.stdout) as { jobId: string };
      const grpc = createClient(
        JobService,
        createGrpcTransport({ baseUrl: server.url, nodeOptions: { ca: ca() } }),
      );
      const watched: string[] = [];
      for await (const message of grpc.watchJob({ id: jobId })) {
        watched.push(
          JSON.stringify(message.event.value, (_, v: unknown) =>
            v instanceof Uint8Array
              ? Buffer.from(v).toString()
              : typeof v === 'bigint'
                ? String(v)
                : v,
          ),
        );
      }
      const withCa = { HODEI_CA: certs.caFile };
      const logs = await runCli(['--url', server.url, 'job', 'logs', jobId], withCa);
      expect(logs.stdout).toBe('match\ntoken=***\n');
      const get = await runCli(['--url', server.url, 'job', 'get', jobId, '--json'], withCa);
      expect(JSON.parse(get.stdout)).toMatchObject({
        state: 'SUCCEEDED',
        secrets: { TOKEN: '***' },
      });
      for (const text of [logs.stdout, get.stdout, watched.join('\n'), server.log()]) {
        expect(text).not.toContain(value);
      }
      expect(watched.join('\n')).toContain('token=***');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('hodei server refuses a certificate without its key, naming what is missing', async () => {
    const result = await runCli(['server', '--tls-cert', certs.certFile]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^hodei: HODEI_TLS_KEY: missing: HODEI_TLS_CERT is set/);
  });
});

describe('hodei dev --tls-cert/--tls-key with a self-signed certificate', () => {
  it('gives its workers the certificate itself to trust', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'hodei-tls-dev-'));
    const env: Record<string, string> = { HODEI_CA: '', HODEI_WORKER_CA: '' };
    const dev = startCli(
      [
        'dev',
        '--data-dir',
        dataDir,
        '--port',
        '0',
        '--tls-cert',
        certs.selfSignedCertFile,
        '--tls-key',
        certs.selfSignedKeyFile,
      ],
      env,
    );
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setInterval(() => {
          const match = /listening on (https:\/\/[^\s,)]+)/.exec(dev.stderr());
          if (match?.[1]) {
            clearInterval(timer);
            resolve(match[1]);
          }
        }, 50);
        void dev.done.then((r) => {
          clearInterval(timer);
          reject(new Error(`hodei dev exited with ${r.code}:\n${r.stderr}`));
        });
      });
      expect(dev.stderr()).toContain(`--ca ${certs.selfSignedCertFile} run -- echo hello`);
      const run = await runCli(
        ['--url', url, '--ca', certs.selfSignedCertFile, 'run', '--', 'echo', 'self-signed'],
        env,
      );
      expect(run.stdout).toBe('self-signed\n');
      expect(run.code).toBe(0);
    } finally {
      dev.proc.kill('SIGTERM');
      await dev.done.catch(() => undefined);
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
