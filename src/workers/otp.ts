// One-time passwords for worker registration: only their hash is stored.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** How long a new worker's OTP stays valid (HODEI_WORKER_OTP_TTL): a worker registers in ~0.2 s. */
export const DEFAULT_OTP_TTL_MS = 60_000;

export function newOtp(): string {
  return randomBytes(24).toString('base64url');
}

export function hashOtp(otp: string): string {
  return createHash('sha256').update(otp).digest('hex');
}

/** Compares a presented OTP with a stored hash in constant time. */
export function otpMatches(otp: string, storedHash: string): boolean {
  const a = Buffer.from(hashOtp(otp));
  const b = Buffer.from(storedHash);
  return a.length === b.length && timingSafeEqual(a, b);
}
