// What the chaos harness reads from its own database and /proc after a scenario: jobs' states,
// terminal events recorded twice, events without a correlation id, and zombies (worker
// processes of this harness's server with no live worker row, and live rows with no process).
import { readFileSync, readdirSync } from 'node:fs';
import type { Queryable } from './queryable.js';
import { SERVER_PORT } from './hodei-server.js';

const TERMINAL_EVENTS = ['JobSucceeded', 'JobFailed', 'JobTimedOut', 'JobCancelled'];

export async function jobStates(db: Queryable, ids: string[]): Promise<Map<string, string>> {
  const { rows } = await db.query<{ id: string; state: string }>(
    'SELECT id::text, state FROM jobs WHERE id = ANY($1::uuid[])',
    [ids],
  );
  return new Map(rows.map((r) => [r.id, r.state]));
}

/** The last attempt's error and how many attempts were spent, by job id. */
export async function jobErrors(db: Queryable, ids: string[]): Promise<Map<string, string>> {
  const { rows } = await db.query<{ id: string; error: string; attempt: number }>(
    'SELECT id::text, error, attempt FROM jobs WHERE id = ANY($1::uuid[])',
    [ids],
  );
  return new Map(rows.map((r) => [r.id, `attempt ${r.attempt}: ${r.error.slice(0, 120)}`]));
}

/** Jobs with more than one terminal event in the outbox (a result recorded twice). */
export async function recordedTwice(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM (SELECT aggregate_id FROM outbox_events
       WHERE event_type = ANY($1) GROUP BY aggregate_id HAVING count(*) > 1) t`,
    [TERMINAL_EVENTS],
  );
  return rows[0]?.n ?? 0;
}

export async function correlation(db: Queryable): Promise<{ events: number; without: number }> {
  const { rows } = await db.query<{ events: number; without: number }>(
    `SELECT count(*)::int AS events, count(*) FILTER (WHERE correlation_id = '')::int AS without
     FROM outbox_events`,
  );
  return rows[0] ?? { events: 0, without: 0 };
}

function environ(pid: number): Map<string, string> {
  const env = new Map<string, string>();
  try {
    for (const kv of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
      const i = kv.indexOf('=');
      if (i > 0) env.set(kv.slice(0, i), kv.slice(i + 1));
    }
  } catch {
    // gone
  }
  return env;
}

function state(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return 'gone';
  }
}

export interface WorkerProcess {
  pid: number;
  workerId: string;
  /** The agent (`hodei.js worker`), not its reaper. */
  agent: boolean;
}

/** Live worker processes (reapers and agents) of the server at `serverUrl`. */
export function workerProcesses(serverUrl = `http://127.0.0.1:${SERVER_PORT}`): WorkerProcess[] {
  const found: WorkerProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const st = state(pid);
    if (st === 'gone' || st === 'Z') continue;
    const env = environ(pid);
    const workerId = env.get('HODEI_WORKER_ID');
    if (!workerId || env.get('HODEI_URL') !== serverUrl) continue;
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    // The reaper's command line holds the agent's too; the agent is the one node runs.
    const argv0 = cmdline.split('\0')[0] ?? '';
    const agent = cmdline.includes('hodei.js\0worker') && !argv0.includes('perl');
    found.push({ pid, workerId, agent });
  }
  return found;
}

export interface Zombies {
  /** Worker processes alive whose row is TERMINATED or missing. */
  processes: number;
  /** Worker rows not TERMINATED whose process is gone. */
  rows: number;
  details: string[];
}

export async function zombies(db: Queryable, serverUrl?: string): Promise<Zombies> {
  const { rows } = await db.query<{ id: string; state: string; external_id: string }>(
    'SELECT id::text, state, external_id FROM workers',
  );
  const byId = new Map(rows.map((r) => [r.id, r]));
  const procs = workerProcesses(serverUrl);
  const details: string[] = [];
  let processes = 0;
  for (const p of procs) {
    const row = byId.get(p.workerId);
    if (!row || row.state === 'TERMINATED') {
      processes += 1;
      details.push(`process ${p.pid} of worker ${p.workerId} (row ${row?.state ?? 'missing'})`);
    }
  }
  let orphanRows = 0;
  for (const r of rows) {
    if (r.state === 'TERMINATED') continue;
    const pid = Number(r.external_id);
    const st = pid > 0 ? state(pid) : 'gone';
    if (st === 'gone' || st === 'Z') {
      orphanRows += 1;
      details.push(`worker ${r.id} ${r.state}, process ${r.external_id || '(none)'} gone`);
    }
  }
  return { processes, rows: orphanRows, details };
}

export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}
