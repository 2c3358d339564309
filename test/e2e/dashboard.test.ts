// The Grafana dashboard and the alert rules against a real Prometheus (Debian's `prometheus`)
// scraping a real server on PostgreSQL + NATS that ran jobs: Prometheus loads the rules, and every
// query of every panel of deploy/grafana/hodei.json parses and returns data.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { JobState } from '../../src/gen/hodei/v1/job_pb.js';
import { ROOT, startTestServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/procs.js';

interface Panel {
  title: string;
  type: string;
  targets?: Array<{ expr: string }>;
}

let server: TestServer;
let prometheus: ChildProcess | undefined;
let dir: string;
let promUrl: string;
let promLog = '';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function query(expr: string): Promise<{ status: string; error?: string; result: unknown[] }> {
  const response = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await response.json()) as {
    status: string;
    error?: string;
    data?: { result: unknown[] };
  };
  return { status: body.status, error: body.error, result: body.data?.result ?? [] };
}

beforeAll(async () => {
  server = await startTestServer();
  // Work for every panel: jobs that succeed, one that fails and is retried once.
  const ids: string[] = [];
  for (let i = 0; i < 5; i += 1) {
    const { job } = await server.jobs.queueJob({ spec: { command: 'true' } });
    ids.push(job?.id ?? '');
  }
  const { job: failing } = await server.jobs.queueJob({
    spec: { command: 'false', retry: { retries: 1 } },
  });
  ids.push(failing?.id ?? '');
  for (const id of ids) {
    await waitFor('the job to end', async () => {
      const { job } = await server.jobs.getJob({ id });
      return job && [JobState.SUCCEEDED, JobState.FAILED].includes(job.state) ? true : undefined;
    });
  }

  dir = await mkdtemp(path.join(tmpdir(), 'hodei-prometheus-'));
  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  const target = new URL(server.url).host;
  await writeFile(
    path.join(dir, 'prometheus.yml'),
    [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      `rule_files: [${JSON.stringify(path.join(ROOT, 'deploy/prometheus/hodei-rules.yml'))}]`,
      'scrape_configs:',
      '  - job_name: hodei',
      `    static_configs: [{ targets: [${JSON.stringify(target)}] }]`,
      '',
    ].join('\n'),
  );
  prometheus = spawn(
    'prometheus',
    [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  prometheus.stderr?.on('data', (chunk: Buffer) => (promLog += chunk.toString()));
  // Enough scrapes for rate() over the panels' windows: a few seconds of samples.
  await waitFor(
    'Prometheus scraping the server',
    async () => {
      const up = await query('up{job="hodei"} == 1').catch(() => undefined);
      return up && up.result.length > 0 ? true : undefined;
    },
    30_000,
  );
  await new Promise((resolve) => setTimeout(resolve, 3000));
});

afterAll(async () => {
  prometheus?.kill('SIGTERM');
  if (prometheus && prometheus.exitCode === null) {
    await new Promise((resolve) => prometheus?.once('exit', resolve));
  }
  await server?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('dashboard and rules on a real Prometheus', () => {
  it('Prometheus loads the rules; no alert fires for a healthy server', async () => {
    const response = await fetch(`${promUrl}/api/v1/rules`);
    const body = (await response.json()) as {
      data: {
        groups: Array<{
          name: string;
          rules: Array<{ name: string; health: string; state?: string }>;
        }>;
      };
    };
    const rules = body.data.groups.flatMap((g) => g.rules);
    expect(body.data.groups.map((g) => g.name).sort()).toEqual(['hodei-alerts', 'hodei-recording']);
    expect(
      rules.filter((r) => r.health !== 'ok'),
      promLog,
    ).toEqual([]);
    expect(rules.filter((r) => r.state === 'firing').map((r) => r.name)).toEqual([]);
  });

  it('every panel query parses and returns data', async () => {
    const dashboard = JSON.parse(
      await readFile(path.join(ROOT, 'deploy/grafana/hodei.json'), 'utf8'),
    ) as { panels: Panel[] };
    const queries = dashboard.panels.flatMap((p) =>
      (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })),
    );
    expect(queries.length).toBeGreaterThanOrEqual(15);
    for (const { panel, expr } of queries) {
      const answer = await query(expr);
      expect(answer.status, `${panel}: ${expr}: ${answer.error ?? ''}`).toBe('success');
      expect(answer.result.length, `${panel}: ${expr} returned nothing`).toBeGreaterThan(0);
    }
  });
});
