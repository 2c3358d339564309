// `hodei trace`: a job's story (OpsService.GetTrace) as a JSON view with times relative to when
// the job was queued, and as a text timeline for a terminal — each job's attempts, the sagas with
// their steps (how long each took, waits included), the workers (provisioned, registered, ended
// and why), every event in the order it was written, and dead letters — with a bar per span on
// one shared time axis, so "why did it take 40 s" shows as the longest bar.
import { timestampDate, type Timestamp } from '@bufbuild/protobuf/wkt';
import type { GetTraceResponse } from '../gen/hodei/v1/ops_pb.js';
import { commandLine, isoTime, jobView, workerView } from './render.js';
import { deadLetterView } from './dead-letter-view.js';

const BAR_WIDTH = 32;

/** 7ms, 1.23s, 4m05s: short and readable at a glance. */
export function human(ms: number): string {
  const value = Math.round(ms);
  if (value < 1000) return `${value}ms`;
  if (value < 60_000) return `${(value / 1000).toFixed(2)}s`;
  const seconds = Math.round(value / 1000);
  return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
}

/** Milliseconds from the trace's origin, or null. */
function offset(origin: number, ts: Timestamp | undefined): number | null {
  return ts ? timestampDate(ts).getTime() - origin : null;
}

export function traceView(trace: GetTraceResponse) {
  const origin = trace.origin ? timestampDate(trace.origin).getTime() : 0;
  const at = (ts: Timestamp | undefined) => offset(origin, ts);
  return {
    correlationId: trace.correlationId,
    origin: isoTime(trace.origin),
    jobs: trace.jobs.map((job) => ({
      ...jobView(job),
      queuedAtMs: at(job.createdAt),
      finishedAtMs: at(job.finishedAt),
    })),
    sagas: trace.sagas.map((saga) => {
      const startMs = at(saga.createdAt) ?? 0;
      let previous = startMs;
      return {
        id: saga.id,
        type: saga.sagaType,
        state: saga.state,
        error: saga.error || null,
        startMs,
        endMs: at(saga.finishedAt),
        waitKey: saga.waitKey || null,
        waitDeadlineMs: at(saga.waitDeadline),
        steps: saga.steps.map((step) => {
          const endMs = at(step.finishedAt);
          // A step's row is written when it ends: it took from the previous step's end (or the
          // saga's start) to its own, any wait for an event included.
          const view = {
            index: step.index,
            name: step.name,
            state: step.state,
            error: step.error || null,
            startMs: previous,
            endMs,
          };
          if (endMs !== null && step.state !== 'COMPENSATED') previous = endMs;
          return view;
        }),
      };
    }),
    workers: trace.workers.map((worker) => ({
      ...workerView(worker),
      provisionedFor: worker.correlationId || null,
      createdAtMs: at(worker.createdAt),
      registeredAtMs: at(worker.registeredAt),
      terminatedAtMs: at(worker.terminatedAt),
    })),
    events: trace.events.map((event) => ({
      seq: Number(event.seq),
      type: event.eventType,
      aggregateId: event.aggregateId,
      atMs: at(event.occurredAt),
      publishedAfterMs:
        event.publishedAt && event.occurredAt
          ? timestampDate(event.publishedAt).getTime() - timestampDate(event.occurredAt).getTime()
          : null,
      deliveryAttempts: event.deliveryAttempts,
      deadLettered: event.deadLettered,
      payload: JSON.parse(event.payload || '{}') as Record<string, unknown>,
    })),
    deadLetters: trace.deadLetters.map(deadLetterView),
  };
}

export type TraceView = ReturnType<typeof traceView>;

const ms = (value: number | null) =>
  value === null ? '?' : `${value < 0 ? '-' : '+'}${human(Math.abs(value))}`;

/** A bar for [start, end] on a BAR_WIDTH axis from 0 to `total` (an open span runs to the end). */
function bar(start: number | null, end: number | null, total: number): string {
  if (start === null) return ' '.repeat(BAR_WIDTH + 2);
  const scale = (v: number) =>
    Math.min(BAR_WIDTH - 1, Math.max(0, Math.floor((v / total) * BAR_WIDTH)));
  const from = scale(start);
  const to = Math.max(from, scale(end ?? total));
  const cells = Array.from({ length: BAR_WIDTH }, (_, i) =>
    i >= from && i <= to ? (end === null ? '~' : '=') : ' ',
  );
  return `|${cells.join('')}|`;
}

const short = (id: string) => id.slice(0, 8);

/** The text timeline, one line per span or event. */
export function traceText(view: TraceView): string[] {
  const ends = [
    ...view.jobs.map((j) => j.finishedAtMs ?? 0),
    ...view.sagas.map((s) => s.endMs ?? 0),
    ...view.events.map((e) => e.atMs ?? 0),
    ...view.workers.map((w) => w.terminatedAtMs ?? w.registeredAtMs ?? 0),
  ];
  const total = Math.max(1, ...ends);
  const lines: string[] = [];
  const span = (label: string, start: number | null, end: number | null, detail: string) =>
    lines.push(
      `${label.padEnd(40)} ${bar(start, end, total)} ${ms(start).padStart(8)} ${end === null ? '…'.padStart(9) : `${human(Math.max(0, end - (start ?? 0))).padStart(9)}`}  ${detail}`.trimEnd(),
    );

  lines.push(
    `trace ${view.correlationId}: ${view.jobs.length} job(s), ${view.sagas.length} saga(s), ${view.workers.length} worker(s), ${view.events.length} event(s), ${view.deadLetters.length} dead letter(s)`,
  );
  lines.push(`time zero ${view.origin ?? '?'} (the job queued); the axis spans ${human(total)}`);

  for (const job of view.jobs) {
    lines.push('', `job ${job.id}  ${commandLine(job)}`);
    span(`  ${job.state}`, job.queuedAtMs, job.finishedAtMs, job.error ?? '');
    const origin = view.origin ? Date.parse(view.origin) : 0;
    const rel = (iso: string | null) => (iso ? Date.parse(iso) - origin : null);
    for (const attempt of job.attempts) {
      const exit = attempt.exitCode === null ? '' : ` exit ${attempt.exitCode}`;
      span(
        `  attempt ${attempt.attempt} on ${attempt.workerId ? short(attempt.workerId) : '-'}`,
        rel(attempt.assignedAt) ?? rel(attempt.startedAt),
        rel(attempt.finishedAt),
        `${attempt.outcome}${exit}${attempt.error ? `: ${attempt.error}` : ''}`,
      );
    }
    const ended = new Set(job.attempts.map((a) => a.attempt));
    if (!ended.has(job.attempt) && job.assignedAt) {
      span(
        `  attempt ${job.attempt} on ${job.workerId ? short(job.workerId) : '-'}`,
        rel(job.assignedAt),
        null,
        job.state,
      );
    }
  }

  lines.push('', 'sagas');
  if (view.sagas.length === 0) lines.push('  none');
  for (const saga of view.sagas) {
    const waiting = saga.waitKey ? ` waiting for ${saga.waitKey}` : '';
    span(
      `  ${saga.type} ${short(saga.id)}`,
      saga.startMs,
      saga.endMs,
      `${saga.state}${waiting}${saga.error ? `: ${saga.error}` : ''}`,
    );
    for (const step of saga.steps) {
      const compensated = step.state === 'COMPENSATED' ? ' (compensated)' : '';
      span(
        `    ${step.index + 1}. ${step.name}`,
        step.startMs,
        step.endMs,
        `${step.state}${compensated}${step.error ? `: ${step.error}` : ''}`,
      );
    }
  }

  lines.push('', 'workers');
  if (view.workers.length === 0) lines.push('  none');
  for (const worker of view.workers) {
    const registered =
      worker.registeredAtMs === null
        ? 'never registered'
        : `registered ${ms(worker.registeredAtMs)}`;
    const ended = worker.terminationReason ? `, ended: ${worker.terminationReason}` : '';
    span(
      `  ${short(worker.id)} ${worker.provider}`,
      worker.createdAtMs,
      worker.terminatedAtMs,
      `${worker.state}, ${registered}, ran ${worker.jobsRun} job(s)${ended}`,
    );
  }

  lines.push('', 'events (in the order they were written)');
  if (view.events.length === 0) lines.push('  none (deleted by retention, or never written)');
  for (const event of view.events) {
    const published =
      event.publishedAfterMs === null
        ? event.deadLettered
          ? 'dead-lettered'
          : 'not published yet'
        : `published after ${human(event.publishedAfterMs)}`;
    lines.push(
      `  ${ms(event.atMs).padStart(8)}  ${event.type.padEnd(28)} ${short(event.aggregateId)}  ${published}`,
    );
  }

  lines.push('', 'dead letters');
  if (view.deadLetters.length === 0) lines.push('  none');
  for (const letter of view.deadLetters) {
    lines.push(
      `  ${letter.id} ${letter.consumer} ${letter.eventType ?? ''} ${letter.state}: ${letter.error}`,
    );
  }
  return lines;
}
