// `hodei job logs ID [--follow]`: the stored output of a job, page by page (GetJobLogs after the
// last seq), or followed live through WatchJob until the job ends.
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { connect, type JsonFlag } from './connect.js';

const PAGE = 5000;

export function registerJobLogs(job: Command, ctx: CliContext): void {
  job
    .command('logs')
    .argument('<id>', 'job id')
    .description("print a job's output: stdout lines to stdout, stderr lines to stderr")
    .option('--follow', 'keep printing new lines until the job ends')
    .option(
      '--json',
      'print {"jobId","lines":[…]} as JSON (with --follow: one line object per line)',
    )
    .action(async (id: string, flags: { follow?: boolean } & JsonFlag) => {
      const { rpc, call, render, output } = await connect(ctx);
      if (flags.follow) {
        const { followJob } = await import('./follow-job.js');
        await call(
          () =>
            followJob(rpc.jobs, id, {
              onLog: (line) =>
                flags.json
                  ? output.printJsonLine(render.logLineView(line))
                  : output.logLine(render.logStreamName(line.stream), line.line),
            }),
          id,
        );
        return;
      }
      const lines = [];
      let afterSeq = 0n;
      for (;;) {
        const page = await call(() => rpc.jobs.getJobLogs({ id, afterSeq, limit: PAGE }), id);
        const last = page.lines.at(-1);
        if (!last) break;
        afterSeq = last.seq;
        if (flags.json) lines.push(...page.lines.map(render.logLineView));
        else for (const l of page.lines) output.logLine(render.logStreamName(l.stream), l.line);
      }
      if (flags.json) output.printJson({ jobId: id, lines });
    });
}
