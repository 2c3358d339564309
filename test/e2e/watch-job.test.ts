// WatchJob keeps its promise, end to end on PostgreSQL + NATS with real workers: 40 watches opened
// as their jobs are queued (so each starts wherever its job happens to be) each see the job's
// current state first, then every later state exactly once and in order — attempts of a retried
// job included — every output line of an attempt after that attempt's RUNNING and before the
// state that ends it, and the stream ends with the terminal state.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { durationFromMs } from '@bufbuild/protobuf/wkt';
import { JobState } from '../../src/gen/hodei/v1/job_pb.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ env: { HODEI_MAX_WORKERS: '4' } });
});
afterAll(async () => {
  await server?.cleanup();
});

const NAMES: Record<number, string> = {
  [JobState.PENDING]: 'PENDING',
  [JobState.ASSIGNED]: 'ASSIGNED',
  [JobState.RUNNING]: 'RUNNING',
  [JobState.SUCCEEDED]: 'SUCCEEDED',
  [JobState.FAILED]: 'FAILED',
};

type Seen = { kind: 'state'; name: string } | { kind: 'out'; attempt: number; text: string };

/** Queues the job and watches it at once; returns what the watch saw, in order. */
async function queueAndWatch(command: string, retries: number): Promise<Seen[]> {
  const { job } = await server.jobs.queueJob({
    spec: {
      command: 'sh',
      args: ['-c', command],
      retry: retries ? { retries, backoff: durationFromMs(100) } : undefined,
    },
  });
  const seen: Seen[] = [];
  const signal = AbortSignal.timeout(60_000);
  for await (const message of server.jobs.watchJob({ id: job?.id ?? '' }, { signal })) {
    if (message.event.case === 'job') {
      const { state, attempt } = message.event.value;
      seen.push({ kind: 'state', name: `${NAMES[state] ?? state}#${attempt}` });
    } else if (message.event.case === 'output') {
      const { attempt, data } = message.event.value;
      seen.push({ kind: 'out', attempt, text: Buffer.from(data).toString() });
    }
  }
  return seen;
}

/** The states after the first one shown must be exactly the rest of `story`. */
function expectStory(seen: Seen[], story: string[]): void {
  const states = seen.flatMap((s) => (s.kind === 'state' ? [s.name] : []));
  const from = story.indexOf(states[0] ?? '');
  expect(from, `first state ${states[0]} is one of the story`).toBeGreaterThanOrEqual(0);
  expect(states).toEqual(story.slice(from));
  // Output of attempt n only while the last state shown is RUNNING#n — or, for the logs so far,
  // right after the first state when that is of attempt n and past its RUNNING.
  let last = '';
  let first = true;
  for (const s of seen) {
    if (s.kind === 'state') {
      first = last === '';
      last = s.name;
    } else if (!(first && last.endsWith(`#${s.attempt}`))) {
      expect(last, `output of attempt ${s.attempt} after ${last}`).toBe(`RUNNING#${s.attempt}`);
    }
  }
}

const outputOf = (seen: Seen[], attempt: number) =>
  seen.flatMap((s) => (s.kind === 'out' && s.attempt === attempt ? [s.text] : [])).join('');

describe('WatchJob (postgres+nats)', () => {
  it('40 concurrent watches each see every state once, in order, with output in its place', async () => {
    const succeeding = Array.from({ length: 30 }, () => queueAndWatch('echo one; echo two', 0));
    const retried = Array.from({ length: 10 }, () => queueAndWatch('echo try; exit 4', 1));
    const ok = ['PENDING#1', 'ASSIGNED#1', 'RUNNING#1', 'SUCCEEDED#1'];
    for (const seen of await Promise.all(succeeding)) {
      expectStory(seen, ok);
      expect(outputOf(seen, 1)).toBe('one\ntwo\n'); // the logs so far, then the rest
    }
    const twice = [
      'PENDING#1',
      'ASSIGNED#1',
      'RUNNING#1',
      'PENDING#2',
      'ASSIGNED#2',
      'RUNNING#2',
      'FAILED#2',
    ];
    for (const seen of await Promise.all(retried)) {
      expectStory(seen, twice);
      expect(outputOf(seen, 2)).toBe('try\n');
    }
  });
});
