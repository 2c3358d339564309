// A trace (trace/read-trace.ts) as OpsService.GetTrace answers it.
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import {
  GetTraceResponseSchema,
  TraceEventSchema,
  TraceSagaSchema,
  TraceSagaStepSchema,
  type GetTraceResponse,
} from '../gen/hodei/v1/ops_pb.js';
import type { Trace } from '../trace/read-trace.js';
import { jobToPb, workerToPb } from './convert.js';
import { deadLetterToPb } from './convert-dead-letter.js';

const ts = (d: Date | null) => (d ? timestampFromDate(d) : undefined);

export function traceToPb(trace: Trace): GetTraceResponse {
  return create(GetTraceResponseSchema, {
    correlationId: trace.correlationId,
    origin: timestampFromDate(trace.origin),
    jobs: trace.jobs.map(({ job, attempts }) => jobToPb(job, attempts)),
    events: trace.events.map((e) =>
      create(TraceEventSchema, {
        seq: BigInt(e.seq),
        eventId: e.eventId,
        eventType: e.eventType,
        aggregateId: e.aggregateId,
        occurredAt: timestampFromDate(e.occurredAt),
        publishedAt: ts(e.publishedAt),
        deliveryAttempts: e.deliveryAttempts,
        deadLettered: e.deadLettered,
        payload: JSON.stringify(e.payload),
      }),
    ),
    sagas: trace.sagas.map((s) =>
      create(TraceSagaSchema, {
        id: s.id,
        sagaType: s.type,
        state: s.state,
        currentStep: s.currentStep,
        waitKey: s.waitKey ?? '',
        waitDeadline: ts(s.waitDeadline),
        error: s.error,
        createdAt: timestampFromDate(s.createdAt),
        finishedAt: ts(s.finishedAt),
        steps: s.steps.map((st) =>
          create(TraceSagaStepSchema, {
            index: st.index,
            name: st.name,
            state: st.state,
            error: st.error,
            finishedAt: ts(st.finishedAt),
          }),
        ),
      }),
    ),
    workers: trace.workers.map(workerToPb),
    deadLetters: trace.deadLetters.map(deadLetterToPb),
  });
}
