// Where the time goes, for the benchmarks (issue 11, item 3): SQL statements sent through the
// `pg` driver in this process (the control plane runs here), and CPU seconds of each process
// taking part — this process (the server; the callers that queue jobs run apart, bench/callers.ts
// reports theirs), PostgreSQL's backends, nats-server,
// and the worker agents (with the commands they ran and reaped) — read from /proc (Linux).
import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { SPAWN_HELPER_NAME } from '../src/agent/spawn-helper.js';

let statements = 0;
let counting = false;
let byTextOn = false;
/** Statements by their text (first 200 characters), for --statements: how many, and the
 * milliseconds from sending each to its answer (queueing for a connection included). */
const byText = new Map<string, { n: number; ms: number }>();

function textOf(arg: unknown): string {
  const text =
    typeof arg === 'string'
      ? arg
      : typeof arg === 'object' && arg !== null && 'text' in arg
        ? String(arg.text)
        : '?';
  return text.replace(/\s+/g, ' ').trim().slice(0, 200);
}

/** Counts every query the `pg` driver sends from now on (the server's and this process's). */
export function countStatements(options: { byText?: boolean } = {}): void {
  byTextOn = options.byText === true;
  if (counting) return;
  counting = true;
  const proto = pg.Client.prototype as unknown as { query: (...a: unknown[]) => unknown };
  const query = proto.query;
  proto.query = function (this: unknown, ...a: unknown[]) {
    statements += 1;
    if (!byTextOn) return query.apply(this, a);
    const text = textOf(a[0]);
    const entry = byText.get(text) ?? { n: 0, ms: 0 };
    byText.set(text, entry);
    entry.n += 1;
    const sent = performance.now();
    const answered = () => (entry.ms += performance.now() - sent);
    // The pool passes a callback; a caller of client.query without one gets a promise.
    const last = a.at(-1);
    if (typeof last === 'function') {
      a[a.length - 1] = (...r: unknown[]) => {
        answered();
        return (last as (...r: unknown[]) => unknown)(...r);
      };
      return query.apply(this, a);
    }
    const result = query.apply(this, a);
    if (result instanceof Promise) void result.then(answered, answered);
    return result;
  };
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** CPU seconds (user + system, with reaped children when `children`) of a process. */
function cpuOf(pid: string, children: boolean): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the name: state is field 3, utime 14, stime 15, cutime 16, cstime 17 (1-based).
    const at = (n: number) => Number(fields[n - 3] ?? 0);
    return (at(14) + at(15) + (children ? at(16) + at(17) : 0)) / TICKS_PER_SECOND;
  } catch {
    return 0; // gone meanwhile
  }
}

function commandOf(pid: string): { comm: string; cmdline: string } {
  try {
    return {
      comm: readFileSync(`/proc/${pid}/comm`, 'utf8').trim(),
      cmdline: readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' '),
    };
  } catch {
    return { comm: '', cmdline: '' };
  }
}

export interface CostSnapshot {
  statements: number;
  byText: Map<string, { n: number; ms: number }>;
  cpu: { server: number; postgres: number; nats: number; agents: number };
}

/** Statements so far and CPU seconds per kind of process, now. */
export function snapshot(): CostSnapshot {
  const usage = process.cpuUsage();
  const cpu = { server: (usage.user + usage.system) / 1e6, postgres: 0, nats: 0, agents: 0 };
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    const { comm, cmdline } = commandOf(pid);
    // With reaped children: the postmaster's are the backends that exited (a pool closing an
    // idle connection), whose CPU would otherwise drop out of the sum between two snapshots.
    if (comm === 'postgres') cpu.postgres += cpuOf(pid, true);
    else if (comm === 'nats-server') cpu.nats += cpuOf(pid, false);
    // An agent with its reaper, and its spawn helper, whose reaped children are the jobs.
    else if (cmdline.includes('hodei.js worker') || cmdline.includes(SPAWN_HELPER_NAME))
      cpu.agents += cpuOf(pid, true);
  }
  const texts = new Map([...byText].map(([text, { n, ms }]) => [text, { n, ms }]));
  return { statements, byText: texts, cpu };
}

/** Per job, between two snapshots. */
export function costPerJob(before: CostSnapshot, after: CostSnapshot, jobs: number) {
  const per = (a: number, b: number) => Math.round(((b - a) / jobs) * 1e5) / 1e5;
  return {
    statementsPerJob: Math.round(((after.statements - before.statements) / jobs) * 10) / 10,
    cpuSecondsPerJob: {
      server: per(before.cpu.server, after.cpu.server),
      postgres: per(before.cpu.postgres, after.cpu.postgres),
      nats: per(before.cpu.nats, after.cpu.nats),
      agents: per(before.cpu.agents, after.cpu.agents),
    },
  };
}

/** Statements per job by text between two snapshots, the most frequent first, with the mean
 * milliseconds each took to be answered. */
export function statementsPerJob(before: CostSnapshot, after: CostSnapshot, jobs: number) {
  return [...after.byText]
    .map(([text, { n, ms }]) => {
      const was = before.byText.get(text) ?? { n: 0, ms: 0 };
      const count = n - was.n;
      return { text, perJob: count / jobs, meanMs: count > 0 ? (ms - was.ms) / count : 0 };
    })
    .filter((s) => s.perJob > 0)
    .sort((a, b) => b.perJob - a.perJob)
    .map((s) => ({
      ...s,
      perJob: Math.round(s.perJob * 100) / 100,
      meanMs: Math.round(s.meanMs * 100) / 100,
    }));
}
