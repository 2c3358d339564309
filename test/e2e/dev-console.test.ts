// What `hodei dev` prints while jobs run, with real processes: in the console format (the default
// in a terminal) one short line per notable event — a job queued, started, finished with its exit
// code and duration, a worker ready — and no JSON. (JSON lines when stderr is not a terminal are
// checked by the pipeline suite, whose servers run without the setting.)
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, startTestServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/procs.js';

const servers: TestServer[] = [];
afterAll(async () => {
  for (const server of servers) await server.cleanup();
});

describe('hodei dev console', () => {
  it('HODEI_LOG_FORMAT=console: a few short lines per job, no JSON', async () => {
    const server = await startTestServer({
      deployment: 'embedded',
      env: { HODEI_LOG_FORMAT: 'console' },
    });
    servers.push(server);
    const ok = await runCli(['--url', server.url, 'run', '--', 'sh', '-c', 'echo hi']);
    expect(ok.code).toBe(0);
    const bad = await runCli(['--url', server.url, 'run', '--', 'sh', '-c', 'exit 3']);
    expect(bad.code).toBe(3);
    await waitFor(
      'the second job finished in the log',
      () => /FAILED \(exit 3\)/.test(server.log()) || undefined,
    );
    const lines = server
      .log()
      .split('\n')
      .filter((l) => l !== '');
    expect(lines.filter((l) => l.trimStart().startsWith('{'))).toEqual([]);
    const time = String.raw`\d\d:\d\d:\d\d`;
    for (const pattern of [
      String.raw`job \w{8} queued: sh -c echo hi`,
      String.raw`worker \w{8} ready`,
      String.raw`job \w{8} started on worker \w{8} \(attempt 1\)`,
      String.raw`job \w{8} SUCCEEDED \(exit 0\) in \d+ms`,
      String.raw`job \w{8} FAILED \(exit 3\) in \d+ms: exited with code 3`,
    ]) {
      expect(
        lines.some((l) => new RegExp(`^${time} ${pattern}$`).test(l)),
        pattern,
      ).toBe(true);
    }
    // Two jobs, one worker: the start line, its hint, and a handful of lines per job.
    expect(lines.length).toBeLessThanOrEqual(12);
  });
});
