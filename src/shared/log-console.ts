// The console log format (HODEI_LOG_FORMAT=console, the default in a terminal): one short line per
// notable event — a job queued, started, finished with its exit code and duration, a worker ready,
// lost or retired — and every warning and error on one line with its fields; the rest of the info
// lines only at HODEI_LOG_LEVEL=debug. Lines a worker wrote come relayed by the process provider
// with the worker's own fields under `agent`; they are read as if the worker had logged here.

type Fields = Record<string, unknown>;

const LEVELS: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

/** Fields never shown in a generic line: pino's own, and what the short form already says. */
const HIDDEN = new Set([
  'level',
  'time',
  'pid',
  'hostname',
  'msg',
  'agent',
  'stream',
  'v',
  'trace_id',
  'span_id',
]);

const short = (id: unknown) => (typeof id === 'string' ? id.slice(0, 8) : '?');
const text = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value));

function duration(ms: unknown): string {
  if (typeof ms !== 'number') return '';
  if (ms < 1000) return ` in ${Math.round(ms)}ms`;
  return ` in ${(ms / 1000).toFixed(ms < 60_000 ? 2 : 0)}s`;
}

/** The notable events, by message: their one-line form. */
const NOTABLE: Record<string, (f: Fields) => string> = {
  'job queued': (f) => `job ${short(f.jobId)} queued: ${text(f.command)}`,
  'job started': (f) =>
    `job ${short(f.jobId)} started on worker ${short(f.workerId)} (attempt ${text(f.attempt)})`,
  'job finished': (f) =>
    `job ${short(f.jobId)} ${text(f.state)}${f.exitCode === undefined || f.exitCode === null ? '' : ` (exit ${text(f.exitCode)})`}${duration(f.durationMs)}${f.error ? `: ${text(f.error)}` : ''}`,
  'job attempt failed; retry scheduled': (f) =>
    `job ${short(f.jobId)} attempt ${text(f.attempt)} failed; attempt ${text(f.nextAttempt)} at ${text(f.retryAt)}`,
  'job cancel requested': (f) => `job ${short(f.jobId)} cancel requested (now ${text(f.state)})`,
  'job could not start': (f) => `job ${short(f.jobId)} could not start: ${text(f.error)}`,
  'worker stream opened; worker READY': (f) => `worker ${short(f.workerId)} ready`,
  'worker lost; terminated': (f) =>
    `worker ${short(f.workerId)} lost: ${text(f.reason)}${f.jobId ? ` (job ${short(f.jobId)} requeued)` : ''}`,
  'idle worker retired': (f) => `worker ${short(f.workerId)} retired (idle)`,
  'secrets key created': (f) => `secrets key created: ${text(f.source)}`,
};

function clock(time: unknown): string {
  const at = typeof time === 'number' ? new Date(time) : new Date();
  return at.toTimeString().slice(0, 8);
}

/** A record as one line, or undefined when it is not shown at this level of detail. */
export function consoleLine(record: Fields, all: boolean): string | undefined {
  const agent = record.agent !== null && typeof record.agent === 'object' ? record.agent : {};
  const fields: Fields = { ...record, ...(agent as Fields) };
  const level = typeof record.level === 'number' ? record.level : 30;
  const msg = typeof record.msg === 'string' ? record.msg : '';
  const notable = NOTABLE[msg];
  const label = level >= 40 ? `${LEVELS[level] ?? 'WARN'} ` : '';
  if (notable) return `${clock(record.time)} ${label}${notable(fields)}`;
  if (level < 40 && !all) return undefined;
  const rest = Object.entries(fields)
    .filter(([key, value]) => !HIDDEN.has(key) && value !== undefined)
    .map(([key, value]) => {
      const shown = text(value);
      return `${key}=${shown.length > 200 ? `${shown.slice(0, 199)}…` : shown}`;
    });
  return `${clock(record.time)} ${LEVELS[level] ?? 'INFO'} ${[msg, ...rest].join(' ')}`;
}

/** A pino destination writing console lines to `write` (all records when `all`). */
export function consoleDestination(all: boolean, write: (line: string) => void) {
  return {
    write(json: string) {
      let record: Fields;
      try {
        record = JSON.parse(json) as Fields;
      } catch {
        write(json);
        return;
      }
      const line = consoleLine(record, all);
      if (line !== undefined) write(`${line}\n`);
    },
  };
}
