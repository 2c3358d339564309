// NATS-style subject filters (`*` one token, `>` the rest) as anchored regular expressions, so
// PostgreSQL can match them (`subject ~ filter_regex`).
export function filterToRegex(filter: string): string {
  const tokens = filter.split('.');
  const parts = tokens.map((token, i) => {
    if (token === '>' && i === tokens.length - 1) return '.+';
    if (token === '*') return '[^.]+';
    return token.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&');
  });
  return `^${parts.join('\\.')}$`;
}
