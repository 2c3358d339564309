// Follows a job through WatchJob: hands over its output chunks and state changes as they come and
// returns the job once it has finished and the server has sent all its output (the stream ends
// after the last chunk). A broken stream (server restart) is opened again and chunks already
// handed over are skipped by seq. The next message is read only once `onOutput` has resolved, so
// a slow reader of the CLI's output slows the server's sending, not the CLI's memory.
import { Code, ConnectError } from '@connectrpc/connect';
import type { Job, OutputChunk } from '../../gen/hodei/v1/job_pb.js';
import type { JobClient } from '../client.js';
import { isTerminal } from '../exit-status.js';

export interface FollowOptions {
  onOutput(chunk: OutputChunk): void | Promise<void>;
  /** Each state of the job the server sends (the first is the job as it was when followed). */
  onJob?(job: Job): void | Promise<void>;
  /** Give up once the server has been out of reach this long (default 60 s). */
  maxOutageMs?: number;
  /** The server has answered already (QueueJob), so even a first failed open is retried. */
  serverSeen?: boolean;
  signal?: AbortSignal;
  sleep?: (ms: number) => Promise<void>;
}

/** Answers no reconnect will change. */
const FINAL = new Set<Code>([
  Code.NotFound,
  Code.InvalidArgument,
  Code.FailedPrecondition,
  Code.PermissionDenied,
  Code.Unauthenticated,
  Code.Unimplemented,
]);

const wait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function followJob(jobs: JobClient, id: string, options: FollowOptions): Promise<Job> {
  const maxOutageMs = options.maxOutageMs ?? 60_000;
  const sleep = options.sleep ?? wait;
  let lastSeq = 0n;
  let job: Job | undefined;
  let outageSince: number | undefined;
  let retries = 0;
  // A server that never answered is not running: say so at once rather than wait out an outage.
  let contact = options.serverSeen ?? false;
  for (;;) {
    try {
      for await (const { event } of jobs.watchJob({ id }, { signal: options.signal })) {
        outageSince = undefined;
        retries = 0;
        contact = true;
        if (event.case === 'job') {
          job = event.value;
          await options.onJob?.(event.value);
        } else if (event.case === 'output' && event.value.seq > lastSeq) {
          lastSeq = event.value.seq;
          await options.onOutput(event.value);
        }
      }
      // A finished job's stream ends after its last line; any other end is the server leaving.
      if (job && isTerminal(job.state)) return job;
      outageSince ??= Date.now();
    } catch (error) {
      const rpc = ConnectError.from(error);
      if (!contact || options.signal?.aborted || FINAL.has(rpc.code)) throw error;
      outageSince ??= Date.now();
      if (Date.now() - outageSince > maxOutageMs) throw error;
    }
    retries += 1;
    await sleep(Math.min(100 * 2 ** Math.min(retries, 5), 2000));
  }
}
