// The trace's text view: times from the queueing, steps timed from the step before (waits
// included), open spans drawn to the end, compensations and lost workers named.
import { describe, expect, it } from 'vitest';
import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { GetTraceResponseSchema } from '../gen/hodei/v1/ops_pb.js';
import { JobState } from '../gen/hodei/v1/job_pb.js';
import { WorkerState } from '../gen/hodei/v1/worker_pb.js';
import { human, traceText, traceView } from './trace-view.js';

const T0 = 1_700_000_000_000;
const at = (ms: number) => timestampFromMs(T0 + ms);

const trace = create(GetTraceResponseSchema, {
  correlationId: 'corr-1',
  origin: at(0),
  jobs: [
    {
      id: 'aaaaaaaa-0000-4000-8000-000000000001',
      spec: { command: 'sleep', args: ['1'] },
      state: JobState.RUNNING,
      attempt: 1,
      workerId: 'bbbbbbbb-0000-4000-8000-000000000002',
      createdAt: at(0),
      assignedAt: at(400),
      startedAt: at(450),
    },
  ],
  sagas: [
    {
      id: 'cccccccc-0000-4000-8000-000000000003',
      sagaType: 'provisioning',
      state: 'COMPENSATED',
      error: 'no capacity',
      createdAt: at(10),
      finishedAt: at(300),
      steps: [
        { index: 0, name: 'ValidateProviderCapacity', state: 'COMPENSATED', finishedAt: at(250) },
        {
          index: 1,
          name: 'CreateInfrastructure',
          state: 'FAILED',
          error: 'boom',
          finishedAt: at(200),
        },
      ],
    },
    {
      id: 'dddddddd-0000-4000-8000-000000000004',
      sagaType: 'execution',
      state: 'WAITING',
      waitKey: 'worker-ready',
      createdAt: at(5),
      steps: [{ index: 0, name: 'ValidateJobState', state: 'COMPLETED', finishedAt: at(20) }],
    },
  ],
  workers: [
    {
      id: 'bbbbbbbb-0000-4000-8000-000000000002',
      provider: 'process',
      state: WorkerState.TERMINATED,
      createdAt: at(100),
      registeredAt: at(380),
      terminatedAt: at(1000),
      terminationReason: 'stream closed',
    },
  ],
  events: [
    {
      seq: 1n,
      eventType: 'JobQueued',
      aggregateId: 'aaaaaaaa',
      occurredAt: at(0),
      publishedAt: at(3),
      payload: '{}',
    },
    {
      seq: 2n,
      eventType: 'WorkerLost',
      aggregateId: 'bbbbbbbb',
      occurredAt: at(1000),
      payload: '{"reason":"stream closed"}',
    },
  ],
});

describe('trace view', () => {
  it('says durations the short way', () => {
    expect([human(7), human(1234), human(65_000), human(999.6), human(119_700)]).toEqual([
      '7ms',
      '1.23s',
      '1m05s',
      '1.00s',
      '2m00s',
    ]);
  });

  it('times every span from the queueing, and each step from the one before', () => {
    const view = traceView(trace);
    const [provisioning, execution] = view.sagas;
    expect(provisioning?.steps.map((s) => [s.startMs, s.endMs])).toEqual([
      [10, 250],
      [10, 200], // a compensated step does not move the clock: its row was rewritten later
    ]);
    expect(execution?.steps[0]).toMatchObject({ startMs: 5, endMs: 20 });
    expect(view.events.map((e) => e.publishedAfterMs)).toEqual([3, null]);
    expect(view.workers[0]).toMatchObject({
      createdAtMs: 100,
      terminatedAtMs: 1000,
      terminationReason: 'stream closed',
    });
  });

  it('draws each span on one axis and names what went wrong', () => {
    const text = traceText(traceView(trace)).join('\n');
    expect(text).toContain('the axis spans 1.00s');
    expect(text).toMatch(
      /provisioning cccccccc +\|=+ +\| +\+10ms +290ms +COMPENSATED: no capacity/,
    );
    expect(text).toMatch(/1\. ValidateProviderCapacity .* COMPENSATED \(compensated\)/);
    expect(text).toMatch(/2\. CreateInfrastructure .* FAILED: boom/);
    expect(text).toMatch(/execution dddddddd .*…\s+WAITING waiting for worker-ready/);
    expect(text).toMatch(/attempt 1 on bbbbbbbb +\|[ ]+~+\| +\+400ms +… +RUNNING/);
    expect(text).toMatch(
      /bbbbbbbb process .* TERMINATED, registered \+380ms, ran 0 job\(s\), ended: stream closed/,
    );
    expect(text).toMatch(/\+1\.00s +WorkerLost +bbbbbbbb +not published yet/);
    expect(text).toMatch(/dead letters\n {2}none/);
  });
});
