// What the control plane keeps of one attempt's output: everything up to the per-attempt limit
// (HODEI_MAX_JOB_OUTPUT, 64 MiB by default), byte for byte; past it, output is counted and
// dropped while the job keeps running, and one marker line says how much was dropped (written
// when the attempt ends, on stderr, so stdout stays a prefix of what the command wrote).
import type { NewChunk } from '../jobs/job-output-sql.js';
import { formatSize } from '../shared/size.js';

export interface RunOutput {
  readonly jobId: string;
  readonly attempt: number;
  readonly correlationId: string;
  /** Bytes kept so far. */
  readonly storedBytes: number;
  /** Bytes dropped so far. */
  readonly droppedBytes: number;
  /** The part of `chunks` to store (cut at the limit); the rest is counted as dropped. */
  admit(chunks: readonly NewChunk[]): { keep: NewChunk[]; dropped: number };
  /** Undoes `admit` for chunks that could not be stored (the attempt was over). */
  refund(bytes: number): void;
  /** The marker line once something was dropped (once: later calls return undefined). */
  takeMarker(now?: Date): NewChunk | undefined;
}

export function createRunOutput(
  run: { jobId: string; attempt: number; correlationId: string },
  limitBytes: number,
): RunOutput {
  let stored = 0;
  let dropped = 0;
  let lastByte = 0x0a;
  let markerTaken = false;
  return {
    ...run,
    get storedBytes() {
      return stored;
    },
    get droppedBytes() {
      return dropped;
    },
    admit(chunks) {
      const keep: NewChunk[] = [];
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
          keep.push(data === chunk.data ? chunk : { ...chunk, data });
          lastByte = data[data.length - 1]!;
        }
      }
      dropped += droppedNow;
      return { keep, dropped: droppedNow };
    },
    refund(bytes) {
      stored -= bytes;
    },
    takeMarker(now = new Date()) {
      if (dropped === 0 || markerTaken) return undefined;
      markerTaken = true;
      const text =
        `${lastByte === 0x0a ? '' : '\n'}… ${dropped} bytes dropped ` +
        `(output passed the limit of ${formatSize(limitBytes)} per attempt)\n`;
      return { stream: 'stderr', data: Buffer.from(text), at: now };
    },
  };
}
