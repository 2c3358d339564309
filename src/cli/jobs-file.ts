// `hodei job submit --from-file FILE`: a file of jobs as JSON Lines, one QueueJobRequest per line
// in the API's JSON form (`{"spec":{"command":"echo","args":["hi"]},"idempotencyKey":"k1"}`),
// blank lines skipped. Every line is read and checked before anything is sent, so a bad line
// 5,000 queues nothing; each error names the file and line.
import { fromJson, type JsonValue } from '@bufbuild/protobuf';
import { QueueJobRequestSchema, type QueueJobRequest } from '../gen/hodei/v1/job_pb.js';
import { usageError } from './cli-error.js';

/** A job of the file, with the line it is on. */
export interface FileJob {
  line: number;
  request: QueueJobRequest;
  /** The line's length, which a call's size is reckoned by. */
  bytes: number;
}

/** Most characters of a line quoted back in an error. */
const QUOTE = 60;

function quoted(text: string): string {
  return JSON.stringify(text.length > QUOTE ? `${text.slice(0, QUOTE)}…` : text);
}

/** Parses the file's text; throws a usage error naming `name:line` at the first bad line. */
export function parseJobsFile(name: string, text: string): FileJob[] {
  const jobs: FileJob[] = [];
  const lines = text.split('\n');
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (line === '') return;
    const at = `${name}:${index + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw usageError(`${at}: not JSON: ${quoted(line)}`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw usageError(
        `${at}: expected an object like {"spec":{"command":"echo","args":["hi"]}}, got ${quoted(line)}`,
      );
    }
    let request: QueueJobRequest;
    try {
      request = fromJson(QueueJobRequestSchema, value as JsonValue);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw usageError(`${at}: ${message.replace(/^cannot decode message hodei\.v1\./, '')}`);
    }
    if (!request.spec?.command) {
      throw usageError(`${at}: spec.command is missing (each line queues one command)`);
    }
    jobs.push({ line: index + 1, request, bytes: Buffer.byteLength(line) });
  });
  if (jobs.length === 0) throw usageError(`${name}: no jobs in it (one JSON object per line)`);
  return jobs;
}

/** The jobs in consecutive calls of at most `count` jobs and about `bytes` bytes of their lines
 * (a job larger than that goes in a call of its own), in file order. */
export function batches(jobs: readonly FileJob[], count: number, bytes: number): FileJob[][] {
  const out: FileJob[][] = [];
  let current: FileJob[] = [];
  let size = 0;
  for (const job of jobs) {
    if (current.length > 0 && (current.length >= count || size + job.bytes > bytes)) {
      out.push(current);
      current = [];
      size = 0;
    }
    current.push(job);
    size += job.bytes;
  }
  if (current.length > 0) out.push(current);
  return out;
}
