// `hodei job logs ID`: a job's stored output, byte for byte — the last attempt by default,
// `--attempt N` one attempt, `--all` every attempt with a banner line before each — page by page
// (GetJobLogs after the last seq), or followed live through WatchJob until the job ends. With
// --json, output is shown as lines ({seq, attempt, stream, at, line}).
import type { Command } from 'commander';
import type { OutputChunk } from '../../gen/hodei/v1/job_pb.js';
import { CliError, usageError } from '../cli-error.js';
import type { CliContext } from '../context.js';
import { connect, type JsonFlag } from './connect.js';

const PAGE = 1000;

interface LogsFlags extends JsonFlag {
  follow?: boolean;
  attempt?: string;
  all?: boolean;
}

/** Which attempt to show: undefined for --all, else a positive number or 'last'. */
function chosenAttempt(flags: LogsFlags): number | 'last' | undefined {
  if (flags.all && flags.attempt !== undefined)
    throw usageError('--attempt and --all cannot be used together');
  if (flags.follow && (flags.all || flags.attempt !== undefined))
    throw usageError('--follow shows the attempt that runs now; it takes no --attempt or --all');
  if (flags.all) return undefined;
  if (flags.attempt === undefined) return 'last';
  const n = Number(flags.attempt);
  if (!Number.isInteger(n) || n < 1)
    throw usageError(`--attempt must be a positive whole number, got "${flags.attempt}"`);
  return n;
}

export function registerJobLogs(job: Command, ctx: CliContext): void {
  job
    .command('logs')
    .argument('<id>', 'job id')
    .description("print a job's output: stdout to stdout, stderr to stderr, byte for byte")
    .option('--attempt <n>', 'the output of this attempt (default: the last one)')
    .option('--all', 'the output of every attempt, each after a banner line')
    .option('--follow', 'keep printing new output until the job ends')
    .option(
      '--json',
      'print {"jobId","attempt","lines":[…]} as JSON (with --follow: one line object per line)',
    )
    .action(async (id: string, flags: LogsFlags) => {
      const wanted = chosenAttempt(flags);
      const { rpc, call, output, render } = await connect(ctx);
      const [{ createLineAssembler }] = await Promise.all([import('../line-view.js')]);
      if (flags.follow) {
        const [{ followJob }, { createOutputPrinter }] = await Promise.all([
          import('./follow-job.js'),
          import('./output-printer.js'),
        ]);
        const printer = createOutputPrinter(output, id);
        const lines = createLineAssembler();
        let attempt = 0;
        const followed = await call(
          () =>
            followJob(rpc.jobs, id, {
              onJob: flags.json ? undefined : (j) => printer.onJob(j),
              onOutput: (chunk) => {
                if (!flags.json) return printer.onOutput(chunk);
                if (chunk.attempt > attempt) {
                  for (const line of lines.end(attempt)) output.printJsonLine(line);
                  attempt = chunk.attempt;
                }
                for (const line of lines.push(chunk)) output.printJsonLine(line);
              },
            }),
          id,
        );
        for (const line of lines.end()) output.printJsonLine(line);
        if (followed.outputDeletedAt) {
          const at = render.isoTime(followed.outputDeletedAt);
          throw new CliError(`the output of job ${id} was deleted by retention at ${at}`, 1);
        }
        return;
      }

      let attempt: number | undefined;
      if (wanted === 'last' || typeof wanted === 'number') {
        const current = (await call(() => rpc.jobs.getJob({ id }), id)).job;
        const last = current?.attempt ?? 1;
        if (typeof wanted === 'number' && wanted > last)
          throw usageError(`job ${id} has no attempt ${wanted} (its last attempt is ${last})`);
        attempt = wanted === 'last' ? last : wanted;
      }
      const lines = createLineAssembler();
      let shownAttempt = 0;
      const endsLine = { stdout: true, stderr: true };
      let first = true;
      const showJson = (line: unknown) => {
        output.write('stdout', `${first ? '' : ',\n'}    ${JSON.stringify(line)}`);
        first = false;
      };
      if (flags.json)
        output.write(
          'stdout',
          `{\n  "jobId": ${JSON.stringify(id)},\n  "attempt": ${attempt ?? null},\n  "lines": [\n`,
        );

      /** Prints one chunk in the chosen view; with --all, a banner before each attempt. */
      async function show(chunk: OutputChunk): Promise<void> {
        if (chunk.attempt !== shownAttempt) {
          if (flags.json) for (const line of lines.end(shownAttempt)) showJson(line);
          else if (attempt === undefined) {
            for (const stream of ['stdout', 'stderr'] as const) {
              if (!endsLine[stream]) await output.writeBytes(stream, Buffer.from('\n'));
              endsLine[stream] = true;
            }
            output.write('stdout', `--- attempt ${chunk.attempt} ---\n`);
          }
          shownAttempt = chunk.attempt;
        }
        if (flags.json) {
          for (const line of lines.push(chunk)) showJson(line);
          return;
        }
        const stream = render.logStreamName(chunk.stream);
        if (chunk.data.length > 0) endsLine[stream] = chunk.data[chunk.data.length - 1] === 0x0a;
        await output.writeBytes(stream, chunk.data);
      }

      // The next page is fetched while this one is printed.
      const page = (afterSeq: bigint) => {
        const read = call(
          () => rpc.jobs.getJobLogs({ id, afterSeq, limit: PAGE, attempt: attempt ?? 0 }),
          id,
        );
        read.catch(() => undefined);
        return read;
      };
      let next = page(0n);
      for (;;) {
        const { chunks } = await next;
        const last = chunks.at(-1);
        if (!last) break;
        next = page(last.seq);
        for (const chunk of chunks) await show(chunk);
      }
      if (flags.json) {
        for (const line of lines.end()) showJson(line);
        output.write('stdout', `${first ? '' : '\n'}  ]\n}\n`);
      }
    });
}
