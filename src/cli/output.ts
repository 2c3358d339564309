// The CLI's only door to the terminal: what it prints, and how it fails.
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function err(text: string): void {
  process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function raw(stream: 'stdout' | 'stderr', text: string): void {
  (stream === 'stdout' ? process.stdout : process.stderr).write(text);
}

export function json(value: unknown): void {
  out(JSON.stringify(value, null, 2));
}

/** Prints rows as aligned columns under a header. */
export function table(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  out([line(header), ...rows.map(line)].join('\n'));
}
