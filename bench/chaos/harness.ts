// One scenario's run: a fresh database on the harness's cluster, its own stream, a server, a
// ledger. The scenario body queues jobs and does its damage; then the harness waits for every
// job to end, waits one reconcile interval, and measures (lost, recorded twice, re-executed,
// overlapping, zombies, MTTR, recovery, correlation ids, server exits).
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { chaosServer, type ChaosServer } from './hodei-server.js';
import {
  ledgerFigures,
  ledgerJob,
  nextStartAfter,
  watchLedger,
  type Attempt,
  type LedgerWatcher,
} from './ledger.js';
import { correlation, jobErrors, jobStates, recordedTwice, zombies } from './checks.js';
import { existsSync, readFileSync } from 'node:fs';
import type { ScenarioResult } from './report.js';

export interface ChaosContext {
  pgAdminUrl: string;
  natsUrl: string;
  dir: string;
  restartPg(): Promise<void>;
  stopNats(): Promise<void>;
  startNats(): Promise<void>;
}

export interface Scenario {
  name: string;
  what: string;
  env?: Record<string, string>;
  /** After the body, the harness gives up waiting for jobs once none ended for this long. */
  settleMs?: number;
  body(h: ScenarioHandle): Promise<void>;
}

export interface ScenarioHandle {
  ctx: ChaosContext;
  server: ChaosServer;
  db: pg.Pool;
  databaseName: string;
  ledger: LedgerWatcher;
  subjectPrefix: string;
  /** Waits until every job queued so far has ended, or none ended for `idleMs`; their states. */
  waitForJobs(idleMs: number): Promise<Map<string, string>>;
  /** Queues `count` ledger jobs of `seconds` each (idempotent retries while the server is away). */
  queue(count: number, seconds: number, extra?: { workingDir?: string }): Promise<string[]>;
  /** A job that is expected to fail (the poison), not counted as lost. */
  expectFailure(id: string): void;
  /** A worker's death (kill or freeze) of the worker running `jobId`, at `atMs`. */
  workerDied(jobId: string, atMs: number): void;
  /** A server (re)start began at `atMs`; `waiting`: jobs were PENDING (only those count). */
  serverRestarted(atMs: number, waiting: boolean): void;
  note(text: string): void;
  sleep(ms: number): Promise<void>;
}

/** Exit codes of a clean stop on SIGTERM / SIGINT (src/cli/commands/server.ts). */
const OUTSIDE_STOP = ['143', '130'];
const FINAL = ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELLED'];
const RECONCILE_WAIT_MS = 5_000 + 2_000;

function percentile(values: number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

const RECOVERY_TARGET_MS = 5_000;

/** First job start after each restart with jobs waiting. A restart whose server was killed again
 * before any job started is censored when it lived less than the 5 s target (it could not show
 * whether it would have made it), and counted as its lifetime (a lower bound, a miss) otherwise. */
function recoveries(
  attempts: Attempt[],
  restarts: Array<{ atMs: number; waiting: boolean }>,
): { observed: number[]; censored: number } {
  const observed: number[] = [];
  let censored = 0;
  restarts.forEach((r, i) => {
    if (!r.waiting) return;
    const killedAt = restarts[i + 1]?.atMs ?? Infinity;
    const first = nextStartAfter(attempts, r.atMs);
    if (first !== undefined && r.atMs + first < killedAt) observed.push(first);
    else if (killedAt - r.atMs >= RECOVERY_TARGET_MS) observed.push(killedAt - r.atMs);
    else censored += 1;
  });
  return { observed, censored };
}

function countInLog(file: string, text: string): number {
  if (!existsSync(file)) return 0;
  return readFileSync(file, 'utf8').split(text).length - 1;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function runScenario(ctx: ChaosContext, scenario: Scenario): Promise<ScenarioResult> {
  const databaseName = `chaos_${scenario.name.replace(/\W/g, '_')}`;
  const admin = new pg.Client({ connectionString: ctx.pgAdminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${databaseName}`);
  await admin.end();
  const dbUrl = new URL(ctx.pgAdminUrl);
  dbUrl.pathname = `/${databaseName}`;
  const db = new pg.Pool({
    connectionString: dbUrl.toString(),
    max: 3,
    application_name: 'chaos-harness',
  });
  db.on('error', () => undefined);
  const server = chaosServer({
    databaseUrl: dbUrl.toString(),
    natsUrl: ctx.natsUrl,
    name: scenario.name,
    logDir: ctx.dir,
    env: scenario.env,
  });
  const ledgerFile = path.join(ctx.dir, `ledger-${scenario.name}.txt`);
  const ledger = watchLedger(ledgerFile);
  const ids: string[] = [];
  const expectedFailures = new Set<string>();
  const deaths: Array<{ jobId: string; atMs: number }> = [];
  const restarts: Array<{ atMs: number; waiting: boolean }> = [];
  const notes: string[] = [];
  let queued = 0;
  let restarting = false;
  const started = Date.now();
  const loadBefore = os.loadavg()[0] ?? 0;
  await server.start();
  // A supervisor: should the server exit on its own (a finding, counted), start it again.
  const watchdog = setInterval(() => {
    const pid = server.pid;
    if (restarting || server.down || !pid) return;
    try {
      process.kill(pid, 0);
    } catch {
      restarting = true;
      server
        .start()
        .catch(() => undefined)
        .finally(() => (restarting = false));
    }
  }, 500);

  const h: ScenarioHandle = {
    ctx,
    server,
    db,
    databaseName,
    ledger,
    subjectPrefix: server.subjectPrefix,
    async waitForJobs(idleMs) {
      // Waits while jobs still end; gives up only after `idleMs` in which none did (on a loaded
      // machine a slow drain is not a loss; a stalled one is).
      let states = new Map<string, string>();
      let ended = -1;
      let progressAt = Date.now();
      for (;;) {
        states = await jobStates(db, ids).catch(() => states);
        const done = ids.filter((id) => FINAL.includes(states.get(id) ?? '')).length;
        if (done === ids.length) return states;
        if (done !== ended) {
          ended = done;
          progressAt = Date.now();
        }
        if (Date.now() - progressAt > idleMs) return states;
        await sleep(500);
      }
    },
    async queue(count, seconds, extra = {}) {
      const batch = Array.from({ length: count }, () => queued++);
      const got = await Promise.all(
        batch.map(async (n) => {
          const deadline = Date.now() + 120_000;
          for (;;) {
            try {
              const { job } = await server.jobs.queueJob({
                spec: { ...ledgerJob(ledgerFile, seconds), workingDir: extra.workingDir ?? '' },
                idempotencyKey: `${scenario.name}-${n}`,
              });
              if (job?.id) return job.id;
            } catch (err) {
              if (Date.now() > deadline) throw err;
            }
            await sleep(200);
          }
        }),
      );
      ids.push(...got);
      return got;
    },
    expectFailure: (id) => expectedFailures.add(id),
    workerDied: (jobId, atMs) => deaths.push({ jobId, atMs }),
    serverRestarted: (atMs, waiting) => restarts.push({ atMs, waiting }),
    note: (text) => notes.push(text),
    sleep,
  };

  try {
    await scenario.body(h);
    // Every job ends (or the settle time runs out: what is left is lost).
    const states = await h.waitForJobs(scenario.settleMs ?? 120_000);
    const drainedMs = Date.now() - started;
    await sleep(RECONCILE_WAIT_MS);
    ledger.poll();
    const zombie = await zombies(db);
    const twice = await recordedTwice(db);
    const corr = await correlation(db);
    const attempts = ledger.attempts();
    const figures = ledgerFigures(attempts);
    const lost = ids.filter((id) => !expectedFailures.has(id) && states.get(id) !== 'SUCCEEDED');
    const expectedButNot = [...expectedFailures].filter((id) => states.get(id) !== 'FAILED');
    const mttr = deaths
      .map((d) => nextStartAfter(attempts, d.atMs, d.jobId))
      .filter((v): v is number => v !== undefined);
    if (mttr.length < deaths.length)
      notes.push(`${deaths.length - mttr.length} killed job(s) never ran again`);
    if (deaths.length) {
      // What the wait was made of: first runs of other jobs that started between a worker's death
      // and its job's next run (jobs that went ahead of the requeued one).
      const ahead = deaths.map((d) => {
        const next = nextStartAfter(attempts, d.atMs, d.jobId);
        if (next === undefined) return 0;
        return attempts.filter(
          (a) => a.jobId !== d.jobId && a.startMs > d.atMs && a.startMs < d.atMs + next,
        ).length;
      });
      notes.push(
        `runs of other jobs started between a death and the killed job's next run: ${ahead.join(', ')}`,
      );
    }
    const ignoredAcks = countInLog(server.logFile, 'ignored ack for a run not sent on this stream');
    if (ignoredAcks) {
      notes.push(
        `${ignoredAcks} run(s) whose ack the server ignored ("ignored ack for a run not sent on this stream" in its log): the job ran, was requeued after HODEI_DISPATCH_ACK_TIMEOUT and ran again`,
      );
    }
    const { observed: recovery, censored } = recoveries(attempts, restarts);
    if (censored) {
      notes.push(
        `${censored} restart(s) not counted: killed again within ${RECOVERY_TARGET_MS / 1000} s, before any job started`,
      );
    }
    if (server.unexpectedExits.length) {
      notes.push(`server exits the harness did not cause: ${server.unexpectedExits.join(', ')}`);
    }
    if (expectedButNot.length)
      notes.push(`${expectedButNot.length} poison job(s) did not end FAILED`);
    if (zombie.details.length) notes.push(`zombies: ${zombie.details.slice(0, 3).join('; ')}`);
    if (figures.overlapExamples.length)
      notes.push(`overlaps: ${figures.overlapExamples.join('; ')}`);
    if (lost.length) {
      const why = await jobErrors(db, lost.slice(0, 5));
      const left = lost
        .slice(0, 5)
        .map((id) => `${id} ${states.get(id) ?? '?'} (${why.get(id) ?? ''})`);
      notes.push(`not SUCCEEDED: ${left.join(', ')}`);
    }
    return {
      name: scenario.name,
      what: scenario.what,
      jobs: ids.length,
      succeeded: ids.filter((id) => states.get(id) === 'SUCCEEDED').length,
      expectedFailures: expectedFailures.size,
      lost: lost.length,
      recordedTwice: twice,
      reExecuted: figures.reExecuted,
      reRunAfterCompletion: figures.reRunAfterCompletion,
      reRunAfterKill: figures.reRunAfterKill,
      overlapping: figures.overlapping,
      zombieProcesses: zombie.processes,
      zombieRows: zombie.rows,
      deaths: deaths.length,
      mttrP50Ms: percentile(mttr, 50),
      mttrMaxMs: mttr.length ? Math.max(...mttr) : undefined,
      restarts: recovery.length,
      recoveryP50Ms: percentile(recovery, 50),
      recoveryMaxMs: recovery.length ? Math.max(...recovery) : undefined,
      events: corr.events,
      eventsWithoutCorrelation: corr.without,
      serverExits: server.unexpectedExits.filter((e) => !OUTSIDE_STOP.includes(e)).length,
      serverStoppedFromOutside: server.unexpectedExits.filter((e) => OUTSIDE_STOP.includes(e))
        .length,
      drainedMs,
      load: [loadBefore, os.loadavg()[0] ?? 0],
      notes,
    };
  } finally {
    clearInterval(watchdog);
    ledger.stop();
    await server.stop().catch(() => undefined);
    await db.end().catch(() => undefined);
  }
}
