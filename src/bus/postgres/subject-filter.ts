// NATS-style subject filters (`*` one token, `>` the rest) as anchored regular expressions, so
// PostgreSQL can match them (`subject ~ filter_regex`).
function pattern(filter: string): string {
  const tokens = filter.split('.');
  const parts = tokens.map((token, i) => {
    if (token === '>' && i === tokens.length - 1) return '.+';
    if (token === '*') return '[^.]+';
    return token.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&');
  });
  return parts.join('\\.');
}

/** The subjects `filter` matches, less those any of `except` matches (a negative lookahead, which
 * PostgreSQL's regular expressions and JavaScript's both have). */
export function filterToRegex(filter: string, except: readonly string[] = []): string {
  const unless = except.length > 0 ? `(?!(?:${except.map(pattern).join('|')})$)` : '';
  return `^${unless}${pattern(filter)}$`;
}
