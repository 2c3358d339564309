// Lines are a way of showing output, not of storing it: this turns a job's output chunks into
// lines for the JSON views (`job logs --json`), per attempt and stream. A line may span many
// chunks (a 27 MB line is one line); bytes that are not UTF-8 show as U+FFFD here only — the
// plain views write the bytes themselves.
import type { Timestamp } from '@bufbuild/protobuf/wkt';
import type { OutputChunk } from '../gen/hodei/v1/job_pb.js';
import { isoTime, logStreamName } from './render.js';

export interface LineRecord {
  /** The seq of the chunk the line ends in. */
  seq: number;
  attempt: number;
  stream: 'stdout' | 'stderr';
  at: string | null;
  line: string;
}

interface Partial {
  pieces: Uint8Array[];
  attempt: number;
  stream: 'stdout' | 'stderr';
  seq: number;
  at: Timestamp | undefined;
}

const decoder = new TextDecoder('utf-8');

function text(pieces: readonly Uint8Array[]): string {
  const bytes = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
  const end = bytes.length > 0 && bytes[bytes.length - 1] === 0x0d ? bytes.length - 1 : undefined;
  return decoder.decode(bytes.subarray(0, end));
}

export interface LineAssembler {
  /** The lines this chunk completes. */
  push(chunk: OutputChunk): LineRecord[];
  /** What is left without a final newline (of one attempt, or of all), as lines. */
  end(attempt?: number): LineRecord[];
}

export function createLineAssembler(): LineAssembler {
  const partials = new Map<string, Partial>();
  const record = (p: Partial, pieces: readonly Uint8Array[]): LineRecord => ({
    seq: p.seq,
    attempt: p.attempt,
    stream: p.stream,
    at: isoTime(p.at),
    line: text(pieces),
  });
  return {
    push(chunk) {
      const stream = logStreamName(chunk.stream);
      const key = `${chunk.attempt}:${stream}`;
      const lines: LineRecord[] = [];
      let partial = partials.get(key);
      let start = 0;
      const data = chunk.data;
      for (;;) {
        const newline = data.indexOf(0x0a, start);
        const piece = data.subarray(start, newline === -1 ? data.length : newline);
        if (newline === -1) {
          if (piece.length > 0) {
            partial ??= { pieces: [], attempt: chunk.attempt, stream, seq: 0, at: undefined };
            partial.pieces.push(piece);
            partial.seq = Number(chunk.seq);
            partial.at = chunk.at;
            partials.set(key, partial);
          }
          return lines;
        }
        const pieces = partial ? [...partial.pieces, piece] : [piece];
        const line = {
          pieces: [],
          attempt: chunk.attempt,
          stream,
          seq: Number(chunk.seq),
          at: chunk.at,
        };
        lines.push(record(line, pieces));
        partial = undefined;
        partials.delete(key);
        start = newline + 1;
      }
    },
    end(attempt) {
      const lines: LineRecord[] = [];
      for (const [key, partial] of partials) {
        if (attempt !== undefined && partial.attempt !== attempt) continue;
        lines.push(record(partial, partial.pieces));
        partials.delete(key);
      }
      return lines.sort((a, b) => a.seq - b.seq);
    },
  };
}
