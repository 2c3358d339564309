// Groups output lines into batches: one is sent when 100 lines are waiting or 20 ms after the
// first of them, and on demand before a result, so logs stay live without one message per line.
import type { OutputStream } from './command-runner.js';

export interface BufferedLine {
  stream: OutputStream;
  line: string;
  at: Date;
}

export interface LogBatcher {
  add(line: BufferedLine): void;
  /** Sends what is waiting now (before a result, which must come after every line). */
  flush(): void;
  /** Drops what is waiting and stops the timer (the agent is going away). */
  discard(): void;
}

export const MAX_BATCH_LINES = 100;
export const BATCH_DELAY_MS = 20;

export function createLogBatcher(send: (lines: BufferedLine[]) => void): LogBatcher {
  let buffer: BufferedLine[] = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    if (buffer.length === 0) return;
    const lines = buffer;
    buffer = [];
    send(lines);
  };
  return {
    add(line) {
      buffer.push(line);
      if (buffer.length >= MAX_BATCH_LINES) flush();
      else timer ??= setTimeout(flush, BATCH_DELAY_MS);
    },
    flush,
    discard() {
      clearTimeout(timer);
      timer = undefined;
      buffer = [];
    },
  };
}
