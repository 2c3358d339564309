// Protobuf Duration → milliseconds (0 when absent).
import type { Duration } from '@bufbuild/protobuf/wkt';

export function durationMs(duration: Duration | undefined): number {
  if (!duration) return 0;
  return Number(duration.seconds) * 1000 + Math.round(duration.nanos / 1e6);
}
