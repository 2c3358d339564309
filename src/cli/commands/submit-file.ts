// `hodei job submit --from-file FILE`: the file's jobs (jobs-file.ts) queued with QueueJobs, 1,000
// (or about 1 MiB of them) a call. The whole file is checked first; then each call is all or
// none, so after a refused call the jobs of the calls before it are queued (their ids printed)
// and none after.
import { readFile } from 'node:fs/promises';
import type { CliContext } from '../context.js';
import { CliError, usageError } from '../cli-error.js';
import { batches, parseJobsFile } from '../jobs-file.js';
import { processIo } from '../secret-input.js';
import { connect, type JsonFlag } from './connect.js';

/** Jobs per QueueJobs call (the server's limit). */
const BATCH = 1000;
/** About this many bytes of JSON per call, well under the server's message limit (4 MiB by
 * default): a file of large jobs goes in more, smaller calls. */
const BATCH_BYTES = 1024 * 1024;

export async function submitFromFile(
  ctx: CliContext,
  file: string,
  argv: readonly string[],
  flags: JsonFlag & object,
): Promise<void> {
  if (argv.length > 0) {
    throw usageError('give either a command or --from-file, not both');
  }
  const jobFlags = Object.keys(flags).filter((f) => !['fromFile', 'json'].includes(f));
  if (jobFlags.length > 0) {
    throw usageError(
      `--from-file takes each job's options from its line; --${jobFlags[0]?.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} does not apply`,
    );
  }
  const name = file === '-' ? 'stdin' : file;
  let text: string;
  try {
    text =
      file === '-' ? (await processIo.readStdin()).toString('utf8') : await readFile(file, 'utf8');
  } catch (error) {
    throw usageError(`cannot read ${name}: ${(error as Error).message}`);
  }
  const jobs = parseJobsFile(name, text);
  const { rpc, call, render, output } = await connect(ctx);
  const queued: Array<{ line: number; jobId: string; correlationId: string; state: string }> = [];
  for (const batch of batches(jobs, BATCH, BATCH_BYTES)) {
    let answer;
    try {
      answer = await call(() => rpc.jobs.queueJobs({ jobs: batch.map((j) => j.request) }));
    } catch (error) {
      if (!(error instanceof CliError)) throw error;
      // The server names the item (jobs[17]: …): told as the file's line.
      const item = /^jobs\[(\d+)\][.:] ?/.exec(error.message);
      const line = item ? batch[Number(item[1])]?.line : undefined;
      const what =
        line === undefined
          ? error.message
          : `${name}:${line}: ${error.message.slice(item?.[0].length ?? 0)}`;
      const first = batch[0]?.line ?? 0;
      const last = batch.at(-1)?.line ?? 0;
      const before =
        queued.length > 0
          ? `; the ${queued.length} jobs before line ${first} were queued (ids above)`
          : '';
      if (flags.json && queued.length > 0) output.printJson(queued);
      throw new CliError(
        `${what} — nothing from lines ${first}–${last} was queued${before}`,
        error.exitCode,
      );
    }
    answer.jobs.forEach((job, i) => {
      const entry = {
        line: batch[i]?.line ?? 0,
        jobId: job.id,
        correlationId: job.correlationId,
        state: render.jobStateName(job.state),
      };
      queued.push(entry);
      if (!flags.json) output.out(job.id);
    });
  }
  if (flags.json) output.printJson(queued);
}
