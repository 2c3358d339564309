// What the control plane keeps of one attempt's output: everything up to the per-attempt limit
// (HODEI_MAX_JOB_OUTPUT, 64 MiB by default), byte for byte; past it, output is counted and
// dropped while the job keeps running, and one marker line says how much was dropped (written
// when the attempt ends, on stderr, so stdout stays a prefix of what the command wrote).
import { cutChunks, type NewChunk, type NumberedChunk } from '../jobs/job-output-sql.js';
import { formatSize } from '../shared/size.js';

export interface RunOutput {
  readonly jobId: string;
  readonly attempt: number;
  readonly correlationId: string;
  /** Bytes kept so far. */
  readonly storedBytes: number;
  /** Bytes dropped so far. */
  readonly droppedBytes: number;
  /**
   * The part of `chunks` to store (cut at the limit, in pieces that fit a stored chunk, numbered
   * in order); the rest is counted as dropped.
   */
  admit(chunks: readonly NewChunk[]): { keep: NumberedChunk[]; dropped: number };
  /** Undoes `admit` for chunks that could not be stored (the attempt was over). */
  refund(bytes: number): void;
  /** The marker line once something was dropped (the same chunk, part included, every call). */
  marker(now?: Date): NumberedChunk | undefined;
}

export function createRunOutput(
  run: { jobId: string; attempt: number; correlationId: string },
  limitBytes: number,
): RunOutput {
  let stored = 0;
  let dropped = 0;
  let lastByte = 0x0a;
  let marker: NumberedChunk | undefined;
  let nextPart = 0;
  return {
    ...run,
    get storedBytes() {
      return stored;
    },
    get droppedBytes() {
      return dropped;
    },
    admit(chunks) {
      const keep: NumberedChunk[] = [];
      let droppedNow = 0;
      for (const chunk of chunks) {
        const room = limitBytes - stored;
        if (room <= 0) {
          droppedNow += chunk.data.length;
          continue;
        }
        const data = chunk.data.length <= room ? chunk.data : chunk.data.subarray(0, room);
        droppedNow += chunk.data.length - data.length;
        stored += data.length;
        if (data.length > 0) {
          for (const piece of cutChunks([{ ...chunk, data }])) {
            keep.push({ ...piece, part: nextPart });
            nextPart += 1;
          }
          lastByte = data[data.length - 1]!;
        }
      }
      dropped += droppedNow;
      return { keep, dropped: droppedNow };
    },
    refund(bytes) {
      stored -= bytes;
    },
    marker(now = new Date()) {
      if (dropped === 0) return undefined;
      if (!marker) {
        const text =
          `${lastByte === 0x0a ? '' : '\n'}… ${dropped} bytes dropped ` +
          `(output passed the limit of ${formatSize(limitBytes)} per attempt)\n`;
        marker = { stream: 'stderr', data: Buffer.from(text), at: now, part: nextPart };
        nextPart += 1;
      }
      return marker;
    },
  };
}
