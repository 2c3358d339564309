import { describe, expect, it } from 'vitest';
import { consoleDestination, consoleLine } from './log-console.js';

const at = new Date(2026, 11, 3, 23, 40, 5).getTime();
const JOB = '21a71519-bdca-4d84-868e-81cd1946bdce';
const WORKER = 'a1697867-dd6d-5e90-9630-de043bb26dcc';

describe('console log lines', () => {
  it('says what happened to a job in one short line each', () => {
    const lines = [
      { level: 30, time: at, msg: 'job queued', jobId: JOB, command: 'sh -c echo hi' },
      // As the process provider relays a worker's line: the worker's fields under `agent`.
      {
        level: 30,
        time: at,
        msg: 'job started',
        workerId: WORKER,
        stream: 'stderr',
        agent: { level: 30, jobId: JOB, attempt: 1, workerId: WORKER, command: 'sh' },
      },
      {
        level: 30,
        time: at,
        msg: 'job finished',
        jobId: JOB,
        state: 'SUCCEEDED',
        exitCode: 0,
        durationMs: 65,
      },
      {
        level: 30,
        time: at,
        msg: 'job finished',
        jobId: JOB,
        state: 'FAILED',
        exitCode: 3,
        durationMs: 61_234,
        error: 'exited with code 3',
      },
    ].map((r) => consoleLine(r, false));
    expect(lines).toEqual([
      '23:40:05 job 21a71519 queued: sh -c echo hi',
      '23:40:05 job 21a71519 started on worker a1697867 (attempt 1)',
      '23:40:05 job 21a71519 SUCCEEDED (exit 0) in 65ms',
      '23:40:05 job 21a71519 FAILED (exit 3) in 61s: exited with code 3',
    ]);
  });

  it('names warnings as such and keeps their fields on the line', () => {
    expect(
      consoleLine(
        {
          level: 40,
          time: at,
          msg: 'worker lost; terminated',
          workerId: WORKER,
          reason: 'stream closed',
          jobId: JOB,
        },
        false,
      ),
    ).toBe('23:40:05 WARN worker a1697867 lost: stream closed (job 21a71519 requeued)');
    expect(
      consoleLine(
        {
          level: 50,
          time: at,
          msg: 'outbox relay round failed',
          pid: 1,
          hostname: 'h',
          error: 'x'.repeat(300),
          failures: 2,
        },
        false,
      ),
    ).toBe(`23:40:05 ERROR outbox relay round failed error=${'x'.repeat(199)}… failures=2`);
  });

  it('hides routine info lines unless everything is asked for', () => {
    const routine = {
      level: 30,
      time: at,
      msg: 'database migrated',
      migrations: ['0001_core.sql'],
    };
    expect(consoleLine(routine, false)).toBeUndefined();
    expect(consoleLine(routine, true)).toBe(
      '23:40:05 INFO database migrated migrations=["0001_core.sql"]',
    );
  });

  it('writes one line per shown record and passes text that is not JSON through', () => {
    const out: string[] = [];
    const destination = consoleDestination(false, (line) => out.push(line));
    destination.write(`${JSON.stringify({ level: 30, time: at, msg: 'database migrated' })}\n`);
    destination.write(
      `${JSON.stringify({ level: 30, time: at, msg: 'idle worker retired', workerId: WORKER })}\n`,
    );
    destination.write('not json\n');
    expect(out).toEqual(['23:40:05 worker a1697867 retired (idle)\n', 'not json\n']);
  });
});
