// Turns a byte stream into text lines without trusting the command: a line longer than 64 KiB is
// emitted in pieces of at most that many bytes (cut on a UTF-8 character boundary), so one
// newline-free gigabyte cannot grow the agent's memory or a log message without bound.

export const MAX_LINE_BYTES = 64 * 1024;

export interface LineSplitter {
  push(chunk: Buffer): void;
  /** Emits what is left after the last newline (output that did not end with one). */
  end(): void;
}

export function createLineSplitter(
  emit: (line: string) => void,
  maxBytes = MAX_LINE_BYTES,
): LineSplitter {
  let pending: Buffer[] = [];
  let pendingBytes = 0;

  function take(): Buffer {
    const all = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    return all;
  }

  function emitLine(bytes: Buffer): void {
    const cr = bytes.length > 0 && bytes[bytes.length - 1] === 0x0d;
    emit(bytes.toString('utf8', 0, cr ? bytes.length - 1 : bytes.length));
  }

  /** Emits full-size pieces while more than `maxBytes` are waiting (the line goes on). */
  function drainLong(): void {
    if (pendingBytes <= maxBytes) return;
    let rest = take();
    while (rest.length > maxBytes) {
      let cut = maxBytes;
      // Back up to the first byte of a character (continuation bytes are 10xxxxxx).
      while (cut > maxBytes - 4 && ((rest[cut] ?? 0) & 0xc0) === 0x80) cut -= 1;
      emit(rest.toString('utf8', 0, cut));
      rest = rest.subarray(cut);
    }
    if (rest.length > 0) {
      pending = [rest];
      pendingBytes = rest.length;
    }
  }

  function append(bytes: Buffer): void {
    if (bytes.length === 0) return;
    pending.push(bytes);
    pendingBytes += bytes.length;
    drainLong();
  }

  return {
    push(chunk) {
      let start = 0;
      for (;;) {
        const newline = chunk.indexOf(0x0a, start);
        if (newline === -1) break;
        append(chunk.subarray(start, newline));
        emitLine(take());
        start = newline + 1;
      }
      append(chunk.subarray(start));
    },
    end() {
      if (pendingBytes > 0) emitLine(take());
    },
  };
}
