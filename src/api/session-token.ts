// Session tokens handed to a worker at registration and presented when it opens its stream:
// the worker id signed with a key only this server process knows.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface SessionTokens {
  issue(workerId: string): string;
  /** Returns the worker id the token was issued for, or undefined. */
  verify(token: string): string | undefined;
}

export function createSessionTokens(key: Buffer = randomBytes(32)): SessionTokens {
  const sign = (workerId: string) => createHmac('sha256', key).update(workerId).digest('base64url');
  return {
    issue: (workerId) => `${workerId}.${sign(workerId)}`,
    verify(token) {
      const dot = token.lastIndexOf('.');
      if (dot <= 0) return undefined;
      const workerId = token.slice(0, dot);
      const given = Buffer.from(token.slice(dot + 1));
      const expected = Buffer.from(sign(workerId));
      return given.length === expected.length && timingSafeEqual(given, expected)
        ? workerId
        : undefined;
    },
  };
}
