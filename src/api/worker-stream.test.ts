// The worker stream's bookkeeping of the run it sent: a next run sent while the previous one's
// result is being recorded (the result made the worker READY, a saga picked it at once) is the
// current run afterwards, so its ack and result are not ignored. Reports are recorded by a test
// double here: what is under test is which run the stream takes reports for.
import { create } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { WorkerMessageSchema, RunOutcome, type WorkerMessage } from '../gen/hodei/v1/worker_pb.js';
import { serveWorkerStream, type WorkerStreamDeps } from './worker-stream.js';
import { createWorkerSessions } from '../workers/worker-sessions.js';
import { createWorkerLiveness } from '../workers/worker-liveness.js';
import { systemClock } from '../shared/clock.js';
import { silentLogger } from '../shared/logger.js';
import { createAsyncQueue } from '../shared/async-queue.js';
import type { JobRecord } from '../jobs/job.js';
import { jobRecord } from '../../test/helpers/job-spec.js';

function job(id: string): JobRecord {
  return jobRecord({ id, state: 'ASSIGNED', correlationId: `c-${id}`, workerId: 'w1' });
}

const ack = (jobId: string): WorkerMessage =>
  create(WorkerMessageSchema, { body: { case: 'ack', value: { jobId, attempt: 1 } } });
const result = (jobId: string): WorkerMessage =>
  create(WorkerMessageSchema, {
    body: { case: 'result', value: { jobId, attempt: 1, outcome: RunOutcome.EXITED, exitCode: 0 } },
  });

describe('serveWorkerStream', () => {
  it('a run sent while the last result is being recorded is the current run afterwards', async () => {
    const sessions = createWorkerSessions();
    const acked: string[] = [];
    const recorded: string[] = [];
    const deps = {
      db: {},
      sessions,
      liveness: createWorkerLiveness(systemClock),
      logger: silentLogger(),
      maxJobOutputBytes: 1024,
      isServing: () => false,
      monitor: { workerLost: () => Promise.resolve(true) },
      reports: {
        activate: () => Promise.resolve({}),
        acknowledge: (_w: string, ref: { jobId: string }) => {
          acked.push(ref.jobId);
          return Promise.resolve();
        },
        storeOutput: () => Promise.resolve(true),
        async recordResult(_w: string, report: { jobId: string }) {
          recorded.push(report.jobId);
          // The worker is READY once this commits; a saga sends the next run before it returns.
          if (report.jobId === 'j1') sessions.get('w1')?.sendRun(job('j2'));
          await new Promise((resolve) => setTimeout(resolve, 5));
        },
      },
    } as unknown as WorkerStreamDeps;
    const requests = createAsyncQueue<WorkerMessage>();
    const abort = new AbortController();
    const stream = serveWorkerStream('w1', requests, abort.signal, deps);
    const sent: string[] = [];
    const reading = (async () => {
      for await (const message of stream) {
        if (message.body.case === 'run') sent.push(message.body.value.jobId);
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 20));
    sessions.get('w1')?.sendRun(job('j1'));
    for (const message of [ack('j1'), result('j1'), ack('j2'), result('j2')]) {
      requests.push(message);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    requests.close();
    abort.abort();
    await reading;
    expect(sent).toEqual(['j1', 'j2']);
    expect(acked).toEqual(['j1', 'j2']);
    expect(recorded).toEqual(['j1', 'j2']);
  });
});
