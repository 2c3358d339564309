// Tracing helpers over the OpenTelemetry API: spans are no-ops until telemetry/setup.ts registers
// an SDK (OTEL_EXPORTER_OTLP_ENDPOINT set), so calling them costs next to nothing otherwise. One
// job is one trace: its trace id is derived from its correlation id, so every process and every
// hop (the outbox row's traceparent, the bus header, the worker stream) lands in the same trace
// even where no span context was carried; where one was, spans link to their real parent.
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash, randomFillSync } from 'node:crypto';
import {
  context,
  trace,
  ROOT_CONTEXT,
  SpanStatusCode,
  TraceFlags,
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
  type SpanKind,
} from '@opentelemetry/api';
import { errorMessage } from '../shared/errors.js';

const TRACER = 'hodei';

/** Trace ids of the correlation ids seen last: a job's ~10 events share one (decision 0026). */
const recentTraceIds = new Map<string, string>();
const RECENT_TRACE_IDS = 1024;

/** The trace id of everything about a correlation id: the first 16 bytes of its SHA-256. */
export function traceIdFor(correlationId: string): string {
  const known = recentTraceIds.get(correlationId);
  if (known !== undefined) return known;
  const id = createHash('sha256').update(correlationId).digest('hex').slice(0, 32);
  if (recentTraceIds.size >= RECENT_TRACE_IDS) {
    const oldest = recentTraceIds.keys().next().value;
    if (oldest !== undefined) recentTraceIds.delete(oldest);
  }
  recentTraceIds.set(correlationId, id);
  return id;
}

/** Random bytes for ids, taken from a pool filled 4 KiB at a time (one call into the system's
 * random source per 512 span ids rather than one each). */
const randomPool = Buffer.alloc(4096);
let randomPoolUsed = randomPool.length;

/** `bytes` random bytes as lowercase hex. */
export function randomHex(bytes: number): string {
  if (randomPoolUsed + bytes > randomPool.length) {
    randomFillSync(randomPool);
    randomPoolUsed = 0;
  }
  const hex = randomPool.toString('hex', randomPoolUsed, randomPoolUsed + bytes);
  randomPoolUsed += bytes;
  return hex;
}

/** The trace id a span started without a parent should take (see CorrelationIdGenerator). */
export const pendingTraceId = new AsyncLocalStorage<string>();

/** Trace ids from the correlation id when one is pending, random ones otherwise. */
export const correlationIdGenerator = {
  generateTraceId: () => pendingTraceId.getStore() ?? randomHex(16),
  generateSpanId: () => randomHex(8),
};

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The context with `traceparent` as its remote parent, or `base` when it is not one. */
export function contextFromTraceparent(
  traceparent: string | undefined,
  base: Context = context.active(),
): Context {
  const match = TRACEPARENT.exec(traceparent ?? '');
  if (!match?.[1] || !match[2]) return base;
  return trace.setSpanContext(base, {
    traceId: match[1],
    spanId: match[2],
    traceFlags: parseInt(match[3] ?? '01', 16) & TraceFlags.SAMPLED,
    isRemote: true,
  });
}

/** The W3C traceparent of the active span, or undefined when none is recording. */
export function activeTraceparent(ctx: Context = context.active()): string | undefined {
  const span = trace.getSpan(ctx);
  if (!span?.isRecording()) return undefined;
  const { traceId, spanId, traceFlags } = span.spanContext();
  return `00-${traceId}-${spanId}-0${traceFlags & TraceFlags.SAMPLED}`;
}

/** A traceparent for an event: the active span's, else one in the correlation id's trace. */
export function traceparentFor(correlationId: string): string {
  return activeTraceparent() ?? `00-${traceIdFor(correlationId)}-${randomHex(8)}-01`;
}

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** The parent; default: the active context. */
  parent?: Context;
  /** Without a parent span, start the job's trace (its id derived from this). */
  correlationId?: string;
  /** With `correlationId`: keep the span in that correlation id's trace. Under a parent of
   * another trace (a saga of one job woken by another job's event), it starts in its own trace
   * instead, linked to that parent. */
  ownTrace?: boolean;
}

/** Starts a span (not made active); end it yourself. */
export function startSpan(name: string, options: SpanOptions = {}): Span {
  let parent = options.parent ?? context.active();
  let links: Array<{ context: SpanContext }> | undefined;
  const from = trace.getSpanContext(parent);
  if (options.ownTrace && options.correlationId && from) {
    if (from.traceId !== traceIdFor(options.correlationId)) {
      parent = ROOT_CONTEXT;
      links = [{ context: from }];
    }
  }
  const start = () =>
    trace
      .getTracer(TRACER)
      .startSpan(name, { kind: options.kind, attributes: options.attributes, links }, parent);
  const orphan = !trace.getSpanContext(parent);
  return orphan && options.correlationId
    ? pendingTraceId.run(traceIdFor(options.correlationId), start)
    : start();
}

/** Ends a span with the outcome of its work. */
export function endSpan(span: Span, error?: unknown): void {
  if (error !== undefined) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(error) });
  }
  span.end();
}

/** Runs `work` in a new active span, ended (with its error, if any) when `work` settles. */
export async function inSpan<T>(
  name: string,
  options: SpanOptions,
  work: (span: Span) => Promise<T>,
): Promise<T> {
  const span = startSpan(name, options);
  const parent = options.parent ?? context.active();
  try {
    const result = await context.with(trace.setSpan(parent, span), () => work(span));
    endSpan(span);
    return result;
  } catch (error) {
    endSpan(span, error);
    throw error;
  }
}

/** The active span's ids for a log line (pino mixin), or nothing. */
export function logTraceFields(): { trace_id?: string; span_id?: string } {
  const span = trace.getActiveSpan();
  if (!span?.isRecording()) return {};
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}
