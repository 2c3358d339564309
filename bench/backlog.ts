// A long backlog (issue 11): N jobs of `true` queued by 64 concurrent callers onto 4 warm workers
// (PostgreSQL + NATS by default), then drained. Prints one JSON line per window (jobs finished,
// jobs still waiting, the window's rate, the process's resident memory — the control plane runs
// in this process) and a summary: the rate over the first 2,000 jobs and over the whole drain,
// memory at idle, at its peak and at the end, and the cost per job.
// Each window also shows what a job cost in it (statements, CPU per process), so a rate that
// falls can be traced to the process whose cost per job grows; --statements adds, per window,
// the statements per job by text with the mean time each took to be answered.
// Usage: npm run bench:backlog [-- --jobs 100000 --window 30 --only postgres+nats|embedded
//   --statements]
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { JobService } from '../src/gen/hodei/v1/job_pb.js';
import { costPerJob, countStatements, snapshot, statementsPerJob } from './cost.js';
import { finishedCount, warmWorkers, withDeployment, type Deployment } from './deployment.js';
import { arg, flag } from './args.js';

const JOBS = Number(arg('jobs', '100000'));
const WINDOW_S = Number(arg('window', '30'));
const DEPLOYMENT = arg('only', 'postgres+nats') as Deployment;
const FIRST = Math.min(2000, JOBS);
const STATEMENTS = flag('statements');

countStatements({ byText: STATEMENTS });
const rssMb = () => Math.round(process.memoryUsage().rss / 1e6);
const emit = (figure: Record<string, unknown>) => console.log(JSON.stringify(figure));
const round = (n: number) => Math.round(n * 10) / 10;

await withDeployment(DEPLOYMENT, { maxWorkers: 4, workerIdleTtlMs: 3_600_000 }, async (url) => {
  const jobs = createClient(JobService, createGrpcTransport({ baseUrl: url }));
  await warmWorkers(jobs);
  const idleRss = rssMb();
  const before = await finishedCount(url);
  const costBefore = snapshot();
  const started = performance.now();
  let next = 0;
  let queuedAt = 0;
  const queueing = Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < JOBS) {
        next += 1;
        await jobs.queueJob({ spec: { command: 'true' } });
      }
    }),
  ).then(() => (queuedAt = performance.now()));

  let peakRss = idleRss;
  let firstAt = 0;
  let last = { at: started, finished: 0, cost: costBefore };
  let finished = 0;
  const peak = setInterval(() => (peakRss = Math.max(peakRss, rssMb())), 250);
  while (finished < JOBS) {
    await new Promise((r) => setTimeout(r, 1000));
    finished = (await finishedCount(url)) - before;
    const now = performance.now();
    if (!firstAt && finished >= FIRST) firstAt = now;
    if (now - last.at >= WINDOW_S * 1000 || finished >= JOBS) {
      const cost = snapshot();
      const done = Math.max(1, finished - last.finished);
      emit({
        deployment: DEPLOYMENT,
        figure: 'backlog_window',
        atSeconds: Math.round((now - started) / 1000),
        finished,
        waiting: next - finished,
        jobsPerSecond: round((finished - last.finished) / ((now - last.at) / 1000)),
        rssMb: rssMb(),
        // While jobs are still being queued, the intake's cost is in these too.
        ...costPerJob(last.cost, cost, done),
      });
      if (STATEMENTS)
        for (const st of statementsPerJob(last.cost, cost, done).slice(0, 12))
          emit({
            figure: 'backlog_window_statement',
            atSeconds: Math.round((now - started) / 1000),
            ...st,
          });
      last = { at: now, finished, cost };
    }
  }
  clearInterval(peak);
  await queueing;
  const ended = performance.now();
  emit({
    deployment: DEPLOYMENT,
    figure: 'cost_per_job',
    jobs: JOBS,
    ...costPerJob(costBefore, snapshot(), JOBS),
  });
  emit({
    deployment: DEPLOYMENT,
    figure: 'backlog',
    jobs: JOBS,
    workers: 4,
    seconds: Math.round((ended - started) / 1000),
    queueSeconds: Math.round((queuedAt - started) / 1000),
    jobsPerSecond: round(JOBS / ((ended - started) / 1000)),
    firstJobsPerSecond: round(FIRST / ((firstAt - started) / 1000)),
    rssMb: { idle: idleRss, peak: peakRss, end: rssMb() },
  });
});
