// Prints a followed job's output as the command wrote it (stdout bytes to stdout, stderr bytes to
// stderr), waiting for a slow terminal or pipe, and says once when a new attempt starts, after
// ending the previous attempt's unfinished lines, so two attempts never run together.
import { timestampDate } from '@bufbuild/protobuf/wkt';
import type { Job, OutputChunk } from '../../gen/hodei/v1/job_pb.js';
import type * as Output from '../output.js';
import { logStreamName } from '../render.js';

export interface OutputPrinter {
  onJob(job: Job): Promise<void>;
  onOutput(chunk: OutputChunk): Promise<void>;
}

export function createOutputPrinter(output: typeof Output, jobId: string): OutputPrinter {
  let attempt = 0;
  const endsLine = { stdout: true, stderr: true };

  async function startAttempt(next: number, reason: string): Promise<void> {
    if (attempt > 0) {
      for (const stream of ['stdout', 'stderr'] as const) {
        if (!endsLine[stream]) await output.writeBytes(stream, Buffer.from('\n'));
        endsLine[stream] = true;
      }
      output.say(`job ${jobId}: attempt ${next} starts${reason ? ` (${reason})` : ''}`);
    }
    attempt = next;
  }

  return {
    async onJob(job) {
      if (job.attempt > attempt) await startAttempt(job.attempt, attemptReason(job));
    },
    async onOutput(chunk) {
      if (chunk.attempt < attempt) return; // never mix an earlier attempt into a later one
      if (chunk.attempt > attempt) await startAttempt(chunk.attempt, '');
      const stream = logStreamName(chunk.stream);
      if (chunk.data.length === 0) return;
      endsLine[stream] = chunk.data[chunk.data.length - 1] === 0x0a;
      await output.writeBytes(stream, chunk.data);
    },
  };
}

/** Why a new attempt starts: a retry of a failed command (and when), or the previous attempt's
 * error (a lost worker, a failed dispatch). */
function attemptReason(job: Job): string {
  const retries = job.spec?.retry?.retries ?? 0;
  if (job.retryAt && job.retriesUsed > 0) {
    const at = timestampDate(job.retryAt).toISOString();
    return `retry ${job.retriesUsed} of ${retries} after: ${job.error}; not before ${at}`;
  }
  return job.error;
}
