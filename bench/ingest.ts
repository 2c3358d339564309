// Ingest (issue 11): how fast the API takes jobs, with no worker running them (the jobs stay
// queued; HODEI_MAX_WORKERS=1 and an idle-free pool keep dispatch out of the way as far as it
// goes). The callers are a process of their own (bench/callers.ts). Prints one JSON line per figure:
//   ingest_queue_job  — N QueueJob calls by 64 concurrent gRPC callers: calls/s
//   ingest_queue_jobs — B QueueJobs calls of 1,000 jobs each, one after another: jobs/s and the
//                       p50 / max latency of a call
// The QueueJob figure also gives statements and CPU per job while the jobs are queued (their
// sagas start meanwhile), and with --statements those statements by their text.
// Usage: npm run bench:ingest [-- --jobs 5000 --batches 20 --only postgres+nats|embedded --statements]
import { withDeployment, type Deployment } from './deployment.js';
import { arg, flag } from './args.js';
import { costPerJob, countStatements, snapshot, statementsPerJob } from './cost.js';
import { queueFromCallers } from './callers.js';

const JOBS = Number(arg('jobs', '5000'));
const BATCHES = Number(arg('batches', '20'));
const ONLY = arg('only', '');
const STATEMENTS = flag('statements');
countStatements({ byText: STATEMENTS });
const deployments: Deployment[] = ONLY ? [ONLY as Deployment] : ['postgres+nats', 'embedded'];
const emit = (figure: Record<string, unknown>) => console.log(JSON.stringify(figure));

for (const deployment of deployments) {
  await withDeployment(deployment, { maxWorkers: 1 }, async (url) => {
    const before = snapshot();
    const single = await queueFromCallers({ kind: 'queueJob', url, jobs: JOBS, callers: 64 });
    const after = snapshot();
    emit({
      deployment,
      figure: 'ingest_queue_job',
      callers: 64,
      jobs: JOBS,
      seconds: Math.round(single.seconds * 100) / 100,
      jobsPerSecond: Math.round(JOBS / single.seconds),
      ...costPerJob(before, after, JOBS),
    });
    if (STATEMENTS) {
      for (const s of statementsPerJob(before, after, JOBS))
        emit({ deployment, figure: 'ingest_statement_per_job', ...s });
    }

    const batched = await queueFromCallers({
      kind: 'queueJobs',
      url,
      batches: BATCHES,
      size: 1000,
    });
    const calls = batched.callsMs;
    const batchSeconds = batched.seconds;
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
