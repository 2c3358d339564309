// `hodei job submit|get|list|cancel` (and `logs`, in job-logs.ts). Heavy modules (RPC client,
// generated code) load only when a command runs.
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import type { JobFlags } from '../parse.js';
import { addJobOptions, collect } from './job-options.js';
import { registerJobLogs } from './job-logs.js';
import { connect, type JsonFlag } from './connect.js';

export function registerJob(program: Command, ctx: CliContext): void {
  const job = program.command('job').description('submit, inspect and cancel jobs');

  addJobOptions(job.command('submit'))
    .description('queue a job and print its id')
    .option(
      '--from-file <file>',
      'queue the jobs of a JSON Lines file (- for stdin), one QueueJobRequest per line, 1,000 a call, each call all or none',
    )
    .option('--json', 'print {"jobId","correlationId","state"} (an array with --from-file)')
    .action(async (argv: string[], flags: JobFlags & JsonFlag & { fromFile?: string }) => {
      if (flags.fromFile !== undefined) {
        const { submitFromFile } = await import('./submit-file.js');
        return submitFromFile(ctx, flags.fromFile, argv, flags);
      }
      const { rpc, call, parse, render, output } = await connect(ctx);
      parse.toQueueRequest(argv, flags); // usage errors before stdin or a file is read
      const { readSecretOptions } = await import('../secret-input.js');
      const secrets = await readSecretOptions(flags.secret ?? []);
      const request = parse.toQueueRequest(argv, flags, secrets);
      const { job: queued } = await call(() => rpc.jobs.queueJob(request));
      if (!queued) throw new Error('the server answered QueueJob without a job');
      if (!flags.json) return output.out(queued.id);
      output.printJson({
        jobId: queued.id,
        correlationId: queued.correlationId,
        state: render.jobStateName(queued.state),
      });
    });

  job
    .command('get')
    .argument('<id>', 'job id')
    .description('show one job')
    .option('--json', 'print the job as JSON')
    .action(async (id: string, flags: JsonFlag) => {
      const { rpc, call, render, output } = await connect(ctx);
      const { job: found } = await call(() => rpc.jobs.getJob({ id }), id);
      if (!found) throw new Error('the server answered GetJob without a job');
      const view = render.jobView(found);
      if (flags.json) output.printJson(view);
      else {
        output.printFields(render.jobFields(view));
        if (view.attempts.length > 0) {
          output.printTable(render.ATTEMPT_TABLE_HEADER, view.attempts.map(render.attemptRow));
        }
      }
    });

  job
    .command('list')
    .description('list jobs, newest first')
    .option('--state <state>', 'only jobs in this state, e.g. RUNNING (repeatable)', collect)
    .option('--limit <n>', 'jobs per page (default 50, at most 500)')
    .option('--page-token <token>', 'the next page, from a previous list')
    .option('--json', 'print {"jobs":[…],"nextPageToken"} as JSON ("" on the last page)')
    .action(async (flags: { state?: string[]; limit?: string; pageToken?: string } & JsonFlag) => {
      const { rpc, call, parse, render, output } = await connect(ctx);
      const states = parse.parseStates(flags.state ?? []);
      const pageSize = parse.parseCount('--limit', flags.limit, { min: 1, max: 500 }) ?? 0;
      const page = await call(() =>
        rpc.jobs.listJobs({ states, pageSize, pageToken: flags.pageToken ?? '' }),
      );
      const views = page.jobs.map(render.jobView);
      if (flags.json) {
        // "" on the last page (a string, so `jq -r .nextPageToken` never prints "null").
        return output.printJson({ jobs: views, nextPageToken: page.nextPageToken });
      }
      if (views.length === 0) return output.out('no jobs');
      output.printTable(render.JOB_TABLE_HEADER, views.map(render.jobRow));
      if (page.nextPageToken) output.say(`more: --page-token ${page.nextPageToken}`);
    });

  job
    .command('cancel')
    .argument('<id>', 'job id')
    .description('cancel a job that has not finished (a finished job is left as it is)')
    .option('--json', 'print the job as JSON')
    .action(async (id: string, flags: JsonFlag) => {
      const { rpc, call, render, output } = await connect(ctx);
      const { job: after } = await call(() => rpc.jobs.cancelJob({ id }), id);
      if (!after) throw new Error('the server answered CancelJob without a job');
      const view = render.jobView(after);
      if (flags.json) return output.printJson(view);
      output.out(
        view.state === 'CANCELLED'
          ? `job ${view.id} cancelled`
          : `job ${view.id} had already finished: ${view.state}`,
      );
    });

  registerJobLogs(job, ctx);
}
