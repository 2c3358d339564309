// Masks a job's secret values in its output before the agent sends it: every byte that belongs to
// an occurrence of a value (of at least MIN_SECRET_BYTES bytes) becomes part of a "***".
// Occurrences that overlap or touch, of one value or of several, are masked as one "***", so no
// piece of any value shows between them. Output is a byte stream read in arbitrary pieces: a
// value split across two reads is still found, because the last bytes of a read that could start
// one (at most the longest value's length - 1, or an occurrence reaching into them) are held back
// until the next read or the end of the stream. One redactor per pipe.
export const MIN_SECRET_BYTES = 4;
export const SECRET_MASK = Buffer.from('***');
/** Most bytes one run of occurrences may hold back; past it the run is masked as several "***"
 * (a run is rescanned with each read: this bounds the work on output that repeats a value). */
const MAX_HELD_BYTES = 4096;

export interface StreamRedactor {
  /** The bytes of `data` (after what was held back) that are safe to send now, masked. */
  push(data: Buffer): Buffer;
  /** What was held back, masked: the stream has ended. */
  end(): Buffer;
}

/** The values masked: distinct, at least MIN_SECRET_BYTES bytes of UTF-8 (shorter ones would
 * mask ordinary output: documented in the user guide). */
export function secretNeedles(values: Iterable<string>): Buffer[] {
  const needles = new Map<string, Buffer>();
  for (const value of values) {
    const bytes = Buffer.from(value, 'utf8');
    if (bytes.length >= MIN_SECRET_BYTES) needles.set(value, bytes);
  }
  return [...needles.values()];
}

/** Byte ranges [start, end) of every occurrence in `data` (overlapping ones included), joined
 * where they overlap or touch, in order; `from` is a range known to be secret already. */
function maskedRanges(
  data: Buffer,
  needles: readonly Buffer[],
  from: number,
): Array<[number, number]> {
  const ranges: Array<[number, number]> = from > 0 ? [[0, from]] : [];
  for (const needle of needles) {
    for (let at = data.indexOf(needle); at >= 0; at = data.indexOf(needle, at + 1)) {
      ranges.push([at, at + needle.length]);
    }
  }
  ranges.sort((a, b) => a[0] - b[0]);
  const joined: Array<[number, number]> = [];
  for (const range of ranges) {
    const last = joined[joined.length - 1];
    if (last && range[0] <= last[1]) last[1] = Math.max(last[1], range[1]);
    else joined.push([range[0], range[1]]);
  }
  return joined;
}

/** A redactor for one stream; undefined when no value is long enough to mask (bytes pass as
 * they are). */
export function createStreamRedactor(values: Iterable<string>): StreamRedactor | undefined {
  const needles = secretNeedles(values);
  if (needles.length === 0) return undefined;
  const tail = Math.max(...needles.map((n) => n.length)) - 1;
  let held = Buffer.alloc(0);
  // Bytes at the start of `held` that belong to an occurrence already masked (a long run cut).
  let known = 0;

  function take(data: Buffer, final: boolean): Buffer {
    const ranges = maskedRanges(data, needles, known);
    // An occurrence that is not whole yet starts in the last `tail` bytes.
    let cut = final ? data.length : Math.max(0, data.length - tail);
    // A run reaching the cut may grow with the next read (an occurrence touching it joins it):
    // keep it whole for then; a run too long to keep is masked up to the cut and its rest
    // remembered as masked.
    const straddling = final ? undefined : ranges.find(([start, end]) => start < cut && end >= cut);
    const keepRun = straddling !== undefined && data.length - straddling[0] <= MAX_HELD_BYTES;
    if (keepRun) cut = straddling[0];
    known = straddling && !keepRun ? straddling[1] - cut : Math.max(0, known - cut);
    const out: Buffer[] = [];
    let at = 0;
    for (const [start, end] of ranges) {
      if (start >= cut) break;
      out.push(data.subarray(at, start), SECRET_MASK);
      at = Math.min(end, cut);
    }
    out.push(data.subarray(at, cut));
    held = Buffer.from(data.subarray(cut));
    return Buffer.concat(out);
  }

  return {
    push: (data) => take(held.length > 0 ? Buffer.concat([held, data]) : data, false),
    end: () => take(held, true),
  };
}

/** `text` with every value masked (a run's error message). */
export function redactText(text: string, values: Iterable<string>): string {
  const redactor = createStreamRedactor(values);
  if (!redactor) return text;
  return Buffer.concat([redactor.push(Buffer.from(text, 'utf8')), redactor.end()]).toString('utf8');
}
