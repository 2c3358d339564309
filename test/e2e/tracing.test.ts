// OpenTelemetry end to end, on PostgreSQL + NATS with real workers: a server given an OTLP/HTTP
// endpoint (a receiver in this test) exports one trace per job — its id derived from the job's
// correlation id — from the QueueJob RPC through the outbox, the relay's publish, each consumer
// delivery, every saga step, the run on the worker (across the worker stream) to the result,
// every span's parent in the same trace.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { JobState } from '../../src/gen/hodei/v1/job_pb.js';
import { traceIdFor } from '../../src/telemetry/tracing.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/procs.js';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes?: Array<{ key: string; value: Record<string, unknown> }>;
}

let receiver: Server;
let server: TestServer;
const spans: OtlpSpan[] = [];
const services = new Set<string>();

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const parsed = JSON.parse(body) as {
        resourceSpans: Array<{
          resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> };
          scopeSpans: Array<{ spans: OtlpSpan[] }>;
        }>;
      };
      for (const rs of parsed.resourceSpans) {
        const name = rs.resource.attributes.find((a) => a.key === 'service.name');
        services.add(name?.value.stringValue ?? '');
        for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const address = receiver.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  server = await startTestServer({
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_SERVICE_NAME: 'hodei-test',
      // One worker: a second job waits for the first one's to be freed.
      HODEI_MAX_WORKERS: '1',
    },
  });
});
afterAll(async () => {
  await server?.cleanup();
  await new Promise((resolve) => receiver?.close(resolve));
});

describe('OpenTelemetry traces', () => {
  it('one job is one trace, from QueueJob to its result, every parent in it', async () => {
    const correlationId = `otel-${Date.now()}`;
    const { job } = await server.jobs.queueJob({
      spec: { command: 'sh', args: ['-c', 'echo traced'] },
      correlationId,
    });
    await waitFor('the job to succeed', async () => {
      const { job: now } = await server.jobs.getJob({ id: job?.id ?? '' });
      return now?.state === JobState.SUCCEEDED || undefined;
    });
    const traceId = traceIdFor(correlationId);
    const mine = () => spans.filter((s) => s.traceId === traceId);
    await waitFor('the result span', () => mine().some((s) => s.name === 'result') || undefined);
    await new Promise((resolve) => setTimeout(resolve, 500)); // the last batch
    const trace = mine();
    const byId = new Map(trace.map((s) => [s.spanId, s]));
    const parentOf = (s: OtlpSpan | undefined) =>
      s?.parentSpanId ? byId.get(s.parentSpanId) : undefined;
    const named = (name: string) => trace.find((s) => s.name === name);

    expect(services).toContain('hodei-test');
    const root = named('QueueJob');
    expect(root?.parentSpanId ?? '').toBe('');
    // Every other span's parent is a span of this trace: no hop lost its context.
    const orphans = trace.filter((s) => s !== root && !parentOf(s)).map((s) => s.name);
    expect(orphans).toEqual([]);
    // Across the bus: QueueJob → publish JobQueued → consume JobQueued.
    const publish = named('publish JobQueued');
    expect(parentOf(publish)?.name).toBe('QueueJob');
    expect(parentOf(named('consume JobQueued'))?.name).toBe('publish JobQueued');
    // A span per saga step.
    for (const step of [
      'ValidateJobState',
      'ReserveWorker',
      'UpdateJobToAssigned',
      'SendRunJobCommand',
    ]) {
      expect(named(`execution ${step}`), step).toBeDefined();
    }
    // Across the worker stream: the run under the step that sent it, the result under the run.
    const run = named('run');
    expect(parentOf(run)?.name).toBe('execution SendRunJobCommand');
    expect(parentOf(named('result'))?.name).toBe('run');
    expect(named('publish JobSucceeded')).toBeDefined();
    const attribute = (s: OtlpSpan | undefined, key: string) =>
      s?.attributes?.find((a) => a.key === key)?.value;
    expect(attribute(run, 'hodei.job_id')).toEqual({ stringValue: job?.id });
    expect(attribute(root, 'hodei.correlation_id')).toEqual({ stringValue: correlationId });
  });

  it("a job woken by another job's end keeps its own trace, linked to what woke it", async () => {
    // One worker: the second job's saga waits, and the WorkerReady of the first job's end (in the
    // first job's trace) hands it the worker (decision 0028).
    const stamp = Date.now();
    const queue = async (correlationId: string, script: string) =>
      (
        await server.jobs.queueJob({
          spec: { command: 'sh', args: ['-c', script] },
          correlationId,
        })
      ).job?.id ?? '';
    const first = await queue(`otel-first-${stamp}`, 'sleep 0.5');
    // Queued once the first one runs: it waits for that job's worker.
    await waitFor('the first job to run', async () => {
      const { job } = await server.jobs.getJob({ id: first });
      return job?.state === JobState.RUNNING || undefined;
    });
    const second = await queue(`otel-second-${stamp}`, 'echo second');
    const inTrace = (correlationId: string) =>
      spans.filter((s) => s.traceId === traceIdFor(correlationId));
    const jobOf = (s: OtlpSpan) => s.attributes?.find((a) => a.key === 'hodei.job_id')?.value;
    await waitFor('the second job to succeed', async () => {
      const { job } = await server.jobs.getJob({ id: second });
      return job?.state === JobState.SUCCEEDED || undefined;
    });
    await waitFor(
      "the second job's result span",
      () => inTrace(`otel-second-${stamp}`).some((s) => s.name === 'result') || undefined,
    );
    await new Promise((resolve) => setTimeout(resolve, 500)); // the last batch
    const mine = inTrace(`otel-second-${stamp}`);
    const theirs = inTrace(`otel-first-${stamp}`);
    // Its dispatch, run and result are in its own trace, none of it in the first job's.
    const named = (name: string) => mine.find((s) => s.name === name);
    expect(named('execution SendRunJobCommand')).toBeDefined();
    const run = mine.find((s) => s.name === 'run');
    expect(run && jobOf(run)).toEqual({ stringValue: second });
    expect(mine.find((s) => s.spanId === run?.parentSpanId)?.name).toBe(
      'execution SendRunJobCommand',
    );
    expect(theirs.filter((s) => s.name === 'run').map(jobOf)).toEqual([{ stringValue: first }]);
    expect(
      theirs
        .filter((s) => s.name.startsWith('execution '))
        .every((s) => {
          const saga = s.attributes?.find((a) => a.key === 'hodei.correlation_id')?.value;
          return saga === undefined || JSON.stringify(saga).includes('otel-first');
        }),
    ).toBe(true);
  });
});
