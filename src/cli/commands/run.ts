// `hodei run -- CMD ARGS…`: queue, stream the output live, exit with the job's exit code.
// Ctrl-C cancels the job and waits for it to end; a second Ctrl-C leaves at once.
import type { Command } from 'commander';
import { clients, explain } from '../client.js';
import { err } from '../output.js';
import { exitFor } from '../parse.js';
import { addJobOptions, queueRequest, type JobFlags } from './job-options.js';
import { followJob } from './watch.js';

export function registerRun(program: Command, url: () => string): void {
  addJobOptions(program.command('run'))
    .description('run a command as a job, stream its output and exit with its exit code')
    .action(async (argv: string[], flags: JobFlags) => {
      const request = queueRequest(argv, flags);
      const c = clients(url());
      let jobId = '';
      let interrupts = 0;
      const onInterrupt = () => {
        interrupts += 1;
        if (interrupts > 1 || !jobId) process.exit(130);
        err(`hodei: cancelling job ${jobId} (Ctrl-C again to leave now)`);
        c.jobs.cancelJob({ id: jobId }).catch(() => process.exit(130));
      };
      process.on('SIGINT', onInterrupt);
      try {
        const { job } = await c.jobs.queueJob(request);
        jobId = job?.id ?? '';
        const done = await followJob(c, jobId);
        const { code, message } = exitFor(done);
        if (message) err(message);
        process.exitCode = code;
      } catch (error) {
        throw explain(error, c.url);
      } finally {
        process.off('SIGINT', onInterrupt);
      }
    });
}
