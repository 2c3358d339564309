// `hodei run -- CMD ARGS…`: queue the command, print its output live, byte for byte (stdout to
// stdout, stderr to stderr; a notice on stderr when a lost worker makes it start again) and exit
// as the command did. Ctrl-C cancels the job and waits for it to end; a
// second Ctrl-C leaves at once.
import type { Command } from 'commander';
import { CliError } from '../cli-error.js';
import type { CliContext } from '../context.js';
import type { JobFlags } from '../parse.js';
import { addJobOptions } from './job-options.js';

export function registerRun(program: Command, ctx: CliContext): void {
  addJobOptions(program.command('run'))
    .description('run a command as a job, stream its output and exit with its exit code')
    .addHelpText(
      'after',
      `
Exit code: the command's own; 127 command not found, 124 timed out, 130 cancelled.
Examples:
  hodei run -- echo hello
  hodei run --timeout 30s --env GREETING=hi -- sh -c 'echo "$GREETING"'
  printf %s "$TOKEN" | hodei run --secret TOKEN -- ./deploy.sh
  hodei run --secret TOKEN=@token.txt -- ./deploy.sh`,
    )
    .action((argv: string[], flags: JobFlags) => runJob(ctx, argv, flags));
}

async function runJob(ctx: CliContext, argv: string[], flags: JobFlags): Promise<void> {
  const [
    { toQueueRequest },
    { connectTo, explainRpcError },
    { followJob },
    { createOutputPrinter },
    exit,
    output,
    { readSecretOptions },
  ] = await Promise.all([
    import('../parse.js'),
    import('../client.js'),
    import('./follow-job.js'),
    import('./output-printer.js'),
    import('../exit-status.js'),
    import('../output.js'),
    import('../secret-input.js'),
  ]);
  toQueueRequest(argv, flags); // usage errors before stdin or a file is read
  const request = toQueueRequest(argv, flags, await readSecretOptions(flags.secret ?? []));
  const rpc = connectTo(ctx.serverUrl(), { token: ctx.token(), ca: ctx.ca() });

  let jobId: string | undefined;
  let interrupts = 0;
  const cancel = (id: string) => {
    output.say(`cancelling job ${id} (press Ctrl-C again to leave at once)`);
    rpc.jobs
      .cancelJob({ id })
      .catch((error: unknown) =>
        output.say(`could not cancel job ${id}: ${explainRpcError(error, rpc, id).message}`),
      );
  };
  const onInterrupt = () => {
    interrupts += 1;
    if (interrupts > 1) process.exit(exit.EXIT_CANCELLED);
    if (jobId) cancel(jobId);
  };
  process.on('SIGINT', onInterrupt);
  try {
    let queued;
    try {
      queued = (await rpc.jobs.queueJob(request)).job;
    } catch (error) {
      throw explainRpcError(error, rpc);
    }
    if (!queued) throw new Error('the server answered QueueJob without a job');
    jobId = queued.id;
    // Ctrl-C while the job was being queued: cancel it now that it has an id.
    if (interrupts > 0) cancel(jobId);
    const id = jobId;
    let done;
    try {
      const printer = createOutputPrinter(output, id);
      done = await followJob(rpc.jobs, id, {
        serverSeen: true,
        onJob: (job) => printer.onJob(job),
        onOutput: (chunk) => printer.onOutput(chunk),
      });
    } catch (error) {
      const explained = explainRpcError(error, rpc, id);
      throw new CliError(
        `${explained.message} (job ${id} is queued; follow it with "hodei job logs ${id} --follow")`,
        explained.exitCode,
      );
    }
    const status = exit.exitStatusOf(done);
    if (status.message) output.say(status.message);
    process.exitCode = status.code;
  } finally {
    process.off('SIGINT', onInterrupt);
  }
}
