// Ingest (issue 11): how fast the API takes jobs, with no worker running them (the jobs stay
// queued; HODEI_MAX_WORKERS=1 and an idle-free pool keep dispatch out of the way as far as it
// goes). Prints one JSON line per figure:
//   ingest_queue_job  — N QueueJob calls by 64 concurrent gRPC callers: calls/s
//   ingest_queue_jobs — B QueueJobs calls of 1,000 jobs each, one after another: jobs/s and the
//                       p50 / max latency of a call
// Usage: npm run bench:ingest [-- --jobs 5000 --batches 20 --only postgres+nats|embedded]
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { JobService } from '../src/gen/hodei/v1/job_pb.js';
import { withDeployment, type Deployment } from './deployment.js';
import { arg } from './args.js';

const JOBS = Number(arg('jobs', '5000'));
const BATCHES = Number(arg('batches', '20'));
const ONLY = arg('only', '');
const deployments: Deployment[] = ONLY ? [ONLY as Deployment] : ['postgres+nats', 'embedded'];
const emit = (figure: Record<string, unknown>) => console.log(JSON.stringify(figure));

for (const deployment of deployments) {
  await withDeployment(deployment, { maxWorkers: 1 }, async (url) => {
    const jobs = createClient(JobService, createGrpcTransport({ baseUrl: url }));
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < JOBS) {
          next += 1;
          await jobs.queueJob({ spec: { command: 'true' } });
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    emit({
      deployment,
      figure: 'ingest_queue_job',
      callers: 64,
      jobs: JOBS,
      seconds: Math.round(seconds * 100) / 100,
      jobsPerSecond: Math.round(JOBS / seconds),
    });

    const batch = Array.from({ length: 1000 }, () => ({ spec: { command: 'true' } }));
    const calls: number[] = [];
    const batchStarted = performance.now();
    for (let i = 0; i < BATCHES; i += 1) {
      const t0 = performance.now();
      await jobs.queueJobs({ jobs: batch });
      calls.push(performance.now() - t0);
    }
    const batchSeconds = (performance.now() - batchStarted) / 1000;
    calls.sort((a, b) => a - b);
    emit({
      deployment,
      figure: 'ingest_queue_jobs',
      batchSize: 1000,
      batches: BATCHES,
      seconds: Math.round(batchSeconds * 100) / 100,
      jobsPerSecond: Math.round((BATCHES * 1000) / batchSeconds),
      callP50Ms: Math.round(calls[Math.floor(calls.length / 2)] ?? 0),
      callMaxMs: Math.round(calls.at(-1) ?? 0),
    });
  });
}
