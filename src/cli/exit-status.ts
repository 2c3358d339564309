// How `hodei run` ends for a finished job: the command's own exit code when it ran, the shell's
// conventions otherwise (127 command not found, 124 timed out, 130 cancelled), and what to say.
import { JobState, type Job } from '../gen/hodei/v1/job_pb.js';

export interface ExitStatus {
  code: number;
  /** A sentence for stderr (without the "hodei: " prefix), when the command's output is not enough. */
  message?: string;
}

export const EXIT_NOT_FOUND = 127;
export const EXIT_TIMED_OUT = 124;
export const EXIT_CANCELLED = 130;

const TERMINAL: readonly JobState[] = [
  JobState.SUCCEEDED,
  JobState.FAILED,
  JobState.TIMED_OUT,
  JobState.CANCELLED,
];

export function isTerminal(state: JobState): boolean {
  return TERMINAL.includes(state);
}

function timeoutText(job: Job): string {
  const timeout = job.spec?.timeout;
  if (!timeout) return '';
  const ms = Number(timeout.seconds) * 1000 + Math.round(timeout.nanos / 1_000_000);
  if (ms <= 0) return '';
  return ms % 1000 === 0 ? ` after ${ms / 1000}s` : ` after ${ms}ms`;
}

export function exitStatusOf(job: Job): ExitStatus {
  const reason = job.error ? `: ${job.error}` : '';
  switch (job.state) {
    case JobState.SUCCEEDED:
      return { code: job.exitCode ?? 0 };
    case JobState.FAILED:
      if (job.exitCode !== undefined && job.exitCode !== 0) {
        // The command's own stderr explains a plain non-zero exit; anything else (it could not
        // start, it was killed) is worth a sentence.
        const plain = job.error === '' || /^exited with code -?\d+$/.test(job.error);
        return plain
          ? { code: job.exitCode }
          : { code: job.exitCode, message: `job ${job.id} failed${reason}` };
      }
      return {
        code: /not found|ENOENT/i.test(job.error) ? EXIT_NOT_FOUND : 1,
        message: `job ${job.id} failed${reason || ': no reason given'}`,
      };
    case JobState.TIMED_OUT:
      return { code: EXIT_TIMED_OUT, message: `job ${job.id} timed out${timeoutText(job)}` };
    case JobState.CANCELLED:
      return { code: EXIT_CANCELLED, message: `job ${job.id} was cancelled` };
    default:
      return { code: 1, message: `job ${job.id} has not finished (${JobState[job.state]})` };
  }
}
