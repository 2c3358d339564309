// Follows a job through WatchJob: prints its log lines as they come (stdout to stdout, stderr to
// stderr) and returns the job once it is finished and the server has sent every line. A broken stream is re-opened, skipping lines
// already printed.
import { ConnectError, Code } from '@connectrpc/connect';
import { LogStream, type Job } from '../../gen/hodei/v1/job_pb.js';
import type { Clients } from '../client.js';
import { raw } from '../output.js';
import { isTerminal } from '../parse.js';

export async function followJob(c: Clients, id: string, signal?: AbortSignal): Promise<Job> {
  let lastSeq = 0n;
  let failures = 0;
  for (;;) {
    try {
      let last: Job | undefined;
      for await (const message of c.jobs.watchJob({ id }, { signal })) {
        failures = 0;
        const event = message.event;
        if (event.case === 'log' && event.value.seq > lastSeq) {
          lastSeq = event.value.seq;
          raw(
            event.value.stream === LogStream.STDERR ? 'stderr' : 'stdout',
            `${event.value.line}\n`,
          );
        } else if (event.case === 'job') {
          // Keep reading after a final state: the server sends the remaining log lines, then ends.
          last = event.value;
        }
      }
      if (last && isTerminal(last.state)) return last;
    } catch (error) {
      const connect = ConnectError.from(error);
      if (
        connect.code === Code.NotFound ||
        connect.code === Code.InvalidArgument ||
        signal?.aborted
      )
        throw error;
      failures += 1;
      if (failures > 30) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(200 * failures, 2000)));
  }
}
