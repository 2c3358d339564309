// Groups output lines into batches: sent when 100 lines are waiting or 20 ms after the first
// one, and on demand before a result, so logs are live without one message per line.
export interface BufferedLine {
  stream: 'stdout' | 'stderr';
  line: string;
  at: Date;
}

export interface LogBatcher {
  add(line: BufferedLine): void;
  flush(): void;
}

export const MAX_BATCH_LINES = 100;
export const BATCH_DELAY_MS = 20;

export function createLogBatcher(send: (lines: BufferedLine[]) => void): LogBatcher {
  let buffer: BufferedLine[] = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    if (timer) clearTimeout(timer);
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
  };
}
