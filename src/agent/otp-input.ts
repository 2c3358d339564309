// How the agent receives its one-time password: the first line of its stdin, written by the
// provider that started it (which then closes the pipe). Not the environment, which any process
// of the same user can read in /proc/<pid>/environ for as long as the agent lives, and which a
// job would inherit; a pipe is read once and is empty afterwards.
import type { Readable } from 'node:stream';

/** Longer than any OTP we issue (32 characters); more means this is not an OTP. */
const MAX_LINE_BYTES = 1024;

export type OtpInput = { otp: string } | { problem: string };

/**
 * Reads the first line of `input` (without its line ending). Resolves with a problem instead when
 * the input ends before a non-empty line, carries more than a line's worth without a newline, or
 * nothing complete arrives within `timeoutMs`. Stops reading either way and lets go of `input`.
 */
export function readOtpLine(input: Readable, timeoutMs: number): Promise<OtpInput> {
  return new Promise((resolve) => {
    let buffered = '';
    const finish = (result: OtpInput) => {
      clearTimeout(timer);
      input.off('data', onData);
      input.off('end', onEnd);
      input.off('error', onError);
      // The rest of stdin is nobody's business, and an open stdin would keep the process alive.
      input.destroy();
      resolve(result);
    };
    const onData = (chunk: Buffer | string) => {
      buffered += chunk.toString();
      const newline = buffered.indexOf('\n');
      if (newline >= 0) {
        const otp = buffered.slice(0, newline).replace(/\r$/, '').trim();
        finish(otp ? { otp } : { problem: 'the first line of stdin is empty' });
      } else if (buffered.length > MAX_LINE_BYTES) {
        finish({ problem: `the first line of stdin is longer than ${MAX_LINE_BYTES} bytes` });
      }
    };
    const onEnd = () => {
      const otp = buffered.trim();
      finish(otp ? { otp } : { problem: 'stdin is empty or closed' });
    };
    const onError = (error: Error) => finish({ problem: `stdin failed: ${error.message}` });
    const timer = setTimeout(
      () => finish({ problem: `nothing arrived on stdin within ${timeoutMs / 1000} s` }),
      timeoutMs,
    );
    input.on('data', onData);
    input.once('end', onEnd);
    input.once('error', onError);
  });
}
