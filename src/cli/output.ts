// The CLI's only door to the terminal: every byte it prints goes through these functions.
export type OutputStream = 'stdout' | 'stderr';

function target(stream: OutputStream): NodeJS.WriteStream {
  return stream === 'stdout' ? process.stdout : process.stderr;
}

/** Writes text as it is (help text from commander, a job's log line with its newline). */
export function write(stream: OutputStream, text: string): void {
  target(stream).write(text);
}

/**
 * Bytes of a job's output, exactly as the command wrote them. Resolves once the terminal or pipe
 * has taken them (at once unless it is slow), so a slow reader slows the job, not our memory.
 */
export function writeBytes(stream: OutputStream, data: Uint8Array): Promise<void> {
  if (data.length === 0) return Promise.resolve();
  const out = target(stream);
  if (out.write(data)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      out.off('drain', done);
      out.off('close', done);
      resolve();
    };
    out.once('drain', done);
    out.once('close', done);
  });
}

export function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** One sentence for the user on stderr, prefixed with "hodei: ". */
export function say(text: string): void {
  process.stderr.write(`hodei: ${text}\n`);
}

export function printJson(value: unknown): void {
  out(JSON.stringify(value, null, 2));
}

/** One JSON value per line (for streams such as `job logs --follow --json`). */
export function printJsonLine(value: unknown): void {
  out(JSON.stringify(value));
}

/** Rows as aligned columns under a header; the last column is not padded. */
export function printTable(header: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  out([line(header), ...rows.map(line)].join('\n'));
}

/** `key: value` lines with the values aligned. */
export function printFields(fields: readonly (readonly [string, string])[]): void {
  const width = Math.max(0, ...fields.map(([key]) => key.length + 1));
  out(fields.map(([key, value]) => `${`${key}:`.padEnd(width)} ${value}`).join('\n'));
}

/** A reader that closed the pipe (`hodei job logs X | head`) ends the CLI quietly. */
export function exitQuietlyOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      // Nothing more can be printed; EPIPE means the reader has all it wanted.
      process.exit(error.code === 'EPIPE' ? 0 : 1);
    });
  }
}
