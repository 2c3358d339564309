// Which database errors pass by themselves (the server restarting, a connection killed, too many
// connections): work that failed with one is worth doing again once the database is back. Any
// other error (a constraint, a bug) would fail again the same way. One table, read by every
// caller that retries (conventions: retries are data).

/** SQLSTATE classes and codes that mean "the database, not the statement". */
const TRANSIENT_SQLSTATE = [
  /^08/, // connection exception
  /^57P0[1-3]$/, // admin shutdown, crash shutdown, cannot connect now
  /^53300$/, // too many connections
  /^40001$/, // serialization failure
  /^40P01$/, // deadlock detected
];

/** Errors of the driver or the socket, before any SQLSTATE. */
const TRANSIENT_TEXT =
  /\b(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH)\b|Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i;

export function isTransientDbError(error: unknown): boolean {
  const err = error as { code?: unknown; message?: unknown } | null;
  const code = typeof err?.code === 'string' ? err.code : '';
  if (TRANSIENT_SQLSTATE.some((pattern) => pattern.test(code))) return true;
  if (TRANSIENT_TEXT.test(code)) return true;
  return TRANSIENT_TEXT.test(typeof err?.message === 'string' ? err.message : String(error));
}

/** Waits before try `attempt` (1, 2, …): 100 ms doubling to 2 s, with ±25 % jitter. */
export function retryDelayMs(attempt: number): number {
  const base = Math.min(2000, 100 * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.75 + Math.random() * 0.5));
}

/**
 * Runs `work`, and again after a pause while it fails with a transient database error, for at
 * most `maxMs` in all; then (or on any other error) its error is thrown.
 */
export async function retryTransient<T>(work: () => Promise<T>, maxMs: number): Promise<T> {
  const deadline = Date.now() + maxMs;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await work();
    } catch (error) {
      const delay = retryDelayMs(attempt);
      if (!isTransientDbError(error) || Date.now() + delay > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
