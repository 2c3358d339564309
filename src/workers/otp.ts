// One-time passwords for worker registration: only their hash is stored.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

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
