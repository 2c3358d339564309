// Secrets end to end with a real server, workers and commands: a secret given to `hodei run` on
// stdin or to `hodei job submit` from a file reaches the command's environment, and its value
// shows nowhere else — not in the job's output (also when the command writes it in two pieces),
// `hodei job get --json`, `hodei job logs`, GetJob, ListJobs or WatchJob. A job whose secrets were
// sealed under another key fails saying so, and its worker takes the next job. The embedded
// server makes its key file in the data directory (0600) and reads it again after a restart.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toJsonString } from '@bufbuild/protobuf';
import {
  GetJobResponseSchema,
  JobState,
  ListJobsResponseSchema,
  WatchJobResponseSchema,
} from '../../src/gen/hodei/v1/job_pb.js';
import { createJobCommands } from '../../src/jobs/job-commands.js';
import { createOutboxWriter } from '../../src/outbox/outbox-writer.js';
import { HODEI_BIN, runCli, startTestServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/procs.js';
import { jobSpec } from '../helpers/job-spec.js';
import { testSecretBox } from '../helpers/secret-box.js';

const VALUE = 'expected-secret-value';
// The command checks the value it got (against one it builds, so the value is not in the job's
// own command line), prints it whole, and prints it again in two writes apart (two reads for the
// agent) on stderr.
const SCRIPT = `test "$TOKEN" = "$(printf 'expected-%s-value' secret)" && echo match; echo "token=$TOKEN"; printf 'expected-se' >&2; sleep 0.3; printf 'cret-value\\n' >&2`;

/** `hodei run` with `input` on its stdin. */
function runWithStdin(
  args: string[],
  input: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [HODEI_BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    proc.on('error', reject);
    proc.on('exit', (code) => resolve({ code, stdout, stderr }));
    proc.stdin.end(input);
  });
}

describe('secrets (postgres+nats)', () => {
  let server: TestServer;
  let dir: string;
  const cli = (args: string[]) => runCli(['--url', server.url, ...args]);

  beforeAll(async () => {
    server = await startTestServer();
    dir = await mkdtemp(path.join(tmpdir(), 'hodei-secrets-'));
  });
  afterAll(async () => {
    await server?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('hodei run --secret TOKEN (stdin): the command sees the value, its output shows ***', async () => {
    const result = await runWithStdin(
      ['--url', server.url, 'run', '--secret', 'TOKEN', '--', 'sh', '-c', SCRIPT],
      `${VALUE}\n`,
    );
    expect(result.stderr).not.toContain(VALUE);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('match\ntoken=***\n');
    expect(result.stderr).toContain('***\n');
    expect(result.stderr).not.toContain('expected-se');
  });

  it('job submit --secret TOKEN=@file: no read of the job shows the value', async () => {
    const file = path.join(dir, 'token');
    await writeFile(file, `${VALUE}\n`, { mode: 0o600 });
    const submitted = await cli([
      'job',
      'submit',
      '--json',
      '--env',
      'PLAIN=visible',
      '--secret',
      `TOKEN=@${file}`,
      '--',
      'sh',
      '-c',
      SCRIPT,
    ]);
    expect(submitted.code).toBe(0);
    const id = (JSON.parse(submitted.stdout) as { jobId: string }).jobId;
    // A watch from the start sees every state and all the output.
    const watched: string[] = [];
    const watchedOutput: Buffer[] = [];
    for await (const message of server.jobs.watchJob({ id })) {
      watched.push(toJsonString(WatchJobResponseSchema, message));
      if (message.event.case === 'output')
        watchedOutput.push(Buffer.from(message.event.value.data));
    }
    const { job } = await server.jobs.getJob({ id });
    expect(job?.state).toBe(JobState.SUCCEEDED);
    expect(job?.spec?.secrets).toEqual({ TOKEN: '***' });
    expect(job?.spec?.env).toEqual({ PLAIN: 'visible' });

    const reads = [
      watched.join('\n'),
      toJsonString(GetJobResponseSchema, await server.jobs.getJob({ id })),
      toJsonString(ListJobsResponseSchema, await server.jobs.listJobs({})),
    ];
    const get = await cli(['job', 'get', id, '--json']);
    expect(JSON.parse(get.stdout)).toMatchObject({ secrets: { TOKEN: '***' } });
    const text = await cli(['job', 'get', id]);
    expect(text.stdout).toMatch(/secrets:\s+TOKEN=\*\*\*/);
    const logs = await cli(['job', 'logs', id]);
    expect(logs.stdout).toBe('match\ntoken=***\n');
    expect(logs.stderr).toBe('***\n');
    const logsJson = await cli(['job', 'logs', id, '--json']);
    reads.push(get.stdout, text.stdout, logs.stdout, logs.stderr, logsJson.stdout);
    for (const read of reads) {
      expect(read).not.toContain(VALUE);
      expect(read).not.toContain(Buffer.from(VALUE).toString('base64'));
    }
    const streamed = Buffer.concat(watchedOutput).toString();
    expect(streamed).toContain('token=***\n');
    expect(streamed).not.toContain(VALUE);
    // The server's own log never holds the value either.
    expect(server.log()).not.toContain(VALUE);
  });

  it('refuses a name in both env and secrets, naming it, and a value on the command line', async () => {
    const both = await runWithStdin(
      ['--url', server.url, 'run', '--env', 'TOKEN=x', '--secret', 'TOKEN', '--', 'true'],
      VALUE,
    );
    expect(both.code).not.toBe(0);
    expect(both.stderr).toMatch(/spec\.secrets\.TOKEN: TOKEN is in spec\.env too/);
    const inline = await cli(['run', '--secret', `TOKEN=${VALUE}`, '--', 'true']);
    expect(inline.code).toBe(2);
    expect(inline.stderr).toMatch(/takes @FILE/);
    expect(inline.stderr).not.toContain(VALUE);
  });

  it('a job sealed under another key fails saying so, and the next job runs', async () => {
    await server.stop();
    // Queued as a server with another key would have: its JobQueued waits in the outbox.
    const db = await server.openDb();
    const other = testSecretBox();
    const outbox = createOutboxWriter({ subjectPrefix: server.subjectPrefix });
    const { job } = await createJobCommands({ db, outbox, secretBox: other }).queue({
      spec: jobSpec({ command: 'sh', args: ['-c', 'echo ran'], secrets: { TOKEN: VALUE } }),
      idempotencyKey: null,
      correlationId: 'other-key',
    });
    await db.close();
    await server.restart();
    const failed = await waitFor('the job sealed under another key to end', async () => {
      const { job: now } = await server.jobs.getJob({ id: job.id });
      return now?.state === JobState.FAILED || now?.state === JobState.SUCCEEDED ? now : undefined;
    });
    expect(failed.state).toBe(JobState.FAILED);
    expect(failed.error).toMatch(
      new RegExp(
        `^the secrets of job ${job.id} cannot be read: they were encrypted with secrets key ${other.keyId}, and this server has key [0-9a-f]{16} \\(HODEI_SECRETS_KEY or the key file changed`,
      ),
    );
    const next = await cli(['run', '--', 'echo', 'next']);
    expect(next.stdout).toBe('next\n');
    expect(next.code).toBe(0);
  });
});

describe('secrets (embedded)', () => {
  let server: TestServer;
  afterAll(async () => {
    await server?.cleanup();
  });

  it('makes the key file in the data directory (0600) and runs a job with a secret', async () => {
    server = await startTestServer({ deployment: 'embedded' });
    // The start log names the file (JSON or pretty lines).
    const file = /"?source"?:\s*"([^"]+secrets\.key)"/.exec(server.log())?.[1] ?? '';
    expect(file).toMatch(/hodei-e2e-[^/]+\/secrets\.key$/);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(server.log()).toContain('secrets key created');
    const result = await runWithStdin(
      ['--url', server.url, 'run', '--secret', 'TOKEN', '--', 'sh', '-c', SCRIPT],
      VALUE,
    );
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('match\ntoken=***\n');
    // Started again on the same directory, the server reads the key it made.
    await server.stop();
    await server.restart();
    expect(server.log()).toContain('secrets key loaded');
  });
});
