// `hodei job submit|get|list|cancel|logs`.
import type { Command } from 'commander';
import { clients, explain, type Clients } from '../client.js';
import { json, out, raw, table } from '../output.js';
import { jobView, parseIntFlag, parseStateFlag, stateName } from '../parse.js';
import { LogStream } from '../../gen/hodei/v1/job_pb.js';
import { addJobOptions, queueRequest, type JobFlags } from './job-options.js';
import { followJob } from './watch.js';

async function call<T>(c: Clients, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    throw explain(error, c.url);
  }
}

const collect = (value: string, previous: string[]) => [...previous, value];

export function registerJob(program: Command, url: () => string): void {
  const job = program.command('job').description('submit, inspect and cancel jobs');

  addJobOptions(job.command('submit'))
    .description('queue a job and print its id')
    .option('--json', 'print {"jobId","correlationId","state"}')
    .action(async (argv: string[], flags: JobFlags & { json?: boolean }) => {
      const request = queueRequest(argv, flags);
      const c = clients(url());
      const { job: queued } = await call(c, () => c.jobs.queueJob(request));
      if (!queued) return;
      if (flags.json)
        json({
          jobId: queued.id,
          correlationId: queued.correlationId,
          state: stateName(queued.state),
        });
      else out(queued.id);
    });

  job
    .command('get <id>')
    .description('show a job')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { json?: boolean }) => {
      const c = clients(url());
      const { job: found } = await call(c, () => c.jobs.getJob({ id }));
      if (!found) return;
      const view = jobView(found);
      if (flags.json) return json(view);
      out(
        Object.entries(view)
          .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join('\n'),
      );
    });

  job
    .command('list')
    .description('list jobs, newest first')
    .option('--state <state>', 'only jobs in this state (repeatable)', collect, [])
    .option('--limit <n>', 'jobs per page (default 50, at most 500)')
    .option('--page-token <token>', 'continue after a previous page')
    .option('--json', 'print JSON')
    .action(
      async (flags: { state: string[]; limit?: string; pageToken?: string; json?: boolean }) => {
        const c = clients(url());
        const states = flags.state.map(parseStateFlag);
        const pageSize = parseIntFlag('--limit', flags.limit, 1) ?? 0;
        const page = await call(c, () =>
          c.jobs.listJobs({ states, pageSize, pageToken: flags.pageToken ?? '' }),
        );
        if (flags.json)
          return json({ jobs: page.jobs.map(jobView), nextPageToken: page.nextPageToken });
        table(
          ['ID', 'STATE', 'ATTEMPT', 'EXIT', 'CREATED', 'COMMAND'],
          page.jobs.map((j) => {
            const v = jobView(j);
            return [
              v.id,
              v.state,
              String(v.attempt),
              v.exitCode === null ? '-' : String(v.exitCode),
              v.createdAt ?? '',
              [v.command, ...v.args].join(' '),
            ];
          }),
        );
        if (page.nextPageToken) out(`next page: --page-token ${page.nextPageToken}`);
      },
    );

  job
    .command('cancel <id>')
    .description('cancel a job that has not finished')
    .option('--json', 'print the job as JSON')
    .action(async (id: string, flags: { json?: boolean }) => {
      const c = clients(url());
      const { job: cancelled } = await call(c, () => c.jobs.cancelJob({ id }));
      if (!cancelled) return;
      if (flags.json) json(jobView(cancelled));
      else out(`${cancelled.id} ${stateName(cancelled.state)}`);
    });

  job
    .command('logs <id>')
    .description("print a job's stored output (--follow to keep streaming)")
    .option('--follow', 'stream new lines until the job ends')
    .option('--json', 'print the lines as JSON')
    .action(async (id: string, flags: { follow?: boolean; json?: boolean }) => {
      const c = clients(url());
      if (flags.follow && !flags.json) {
        await call(c, () => followJob(c, id));
        return;
      }
      const lines = [];
      let after = 0n;
      for (;;) {
        const page = await call(c, () => c.jobs.getJobLogs({ id, afterSeq: after, limit: 5000 }));
        lines.push(...page.lines);
        const last = page.lines[page.lines.length - 1];
        if (!last || page.lines.length < 5000) break;
        after = last.seq;
      }
      if (flags.json) {
        return json(
          lines.map((l) => ({
            seq: Number(l.seq),
            attempt: l.attempt,
            stream: l.stream === LogStream.STDERR ? 'stderr' : 'stdout',
            line: l.line,
          })),
        );
      }
      for (const l of lines)
        raw(l.stream === LogStream.STDERR ? 'stderr' : 'stdout', `${l.line}\n`);
    });
}
