// Text that is bounded and storable: a string cut to a number of UTF-8 bytes with a marker that
// says how much was cut (never in the middle of a character), and a string PostgreSQL can store in
// text and jsonb (neither holds U+0000, and jsonb refuses a lone surrogate's \u escape). Events,
// dead letters and the table bus use these, so no input echoed into them can make them unstorable
// or unbounded.

/** The marker a cut string ends with. */
export function cutMarker(bytesCut: number): string {
  return `… (${bytesCut} bytes cut)`;
}

/**
 * `text` when it is at most `maxBytes` bytes of UTF-8; otherwise its start followed by
 * `… (N bytes cut)`, at most `maxBytes` bytes in all (`maxBytes` must leave room for the marker,
 * 40 bytes is always enough). Only the start of a long text is encoded.
 */
export function truncateUtf8(text: string, maxBytes: number): string {
  // Each UTF-16 unit is at least one byte: a text of few units cannot be too long.
  if (text.length <= maxBytes / 3) return text;
  const total = Buffer.byteLength(text, 'utf8');
  if (total <= maxBytes) return text;
  // Enough of the start to keep maxBytes bytes (each unit encodes to one byte or more).
  const head = Buffer.from(text.slice(0, maxBytes), 'utf8');
  let keep = Math.max(0, maxBytes - Buffer.byteLength(cutMarker(total)));
  // Step back to the first byte of a character (continuation bytes are 10xxxxxx).
  while (keep > 0 && ((head[keep] ?? 0) & 0xc0) === 0x80) keep -= 1;
  return head.subarray(0, keep).toString('utf8') + cutMarker(total - keep);
}

const UNSTORABLE = /\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Whether PostgreSQL text or jsonb would refuse `text` (a NUL, or a lone surrogate). */
export function hasUnstorableText(text: string): boolean {
  UNSTORABLE.lastIndex = 0;
  return UNSTORABLE.test(text);
}

/** `text` with every NUL and lone surrogate replaced by U+FFFD (the replacement character). */
export function storableText(text: string): string {
  return hasUnstorableText(text) ? text.replace(UNSTORABLE, '\uFFFD') : text;
}

/** How an error message quotes a value a client sent: JSON-quoted, at most `chars` characters of
 * its start (then "…"), so a rejection never echoes a large or hostile value back. */
export function quoteBounded(value: string, chars = 32): string {
  const head = value.length > chars ? value.slice(0, chars) : value;
  // JSON escapes control characters; a lone surrogate left by the cut is escaped too.
  return `${JSON.stringify(head)}${value.length > chars ? '…' : ''}`;
}

/** How an error names the entry `key` of the map field `field`: `spec.env.HOME` for a key that is
 * a name, `spec.env["a b"]` (quoted, cut) for any other. */
export function mapEntryName(field: string, key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(key)
    ? `${field}.${key}`
    : `${field}[${quoteBounded(key)}]`;
}
