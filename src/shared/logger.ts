// Structured logging. JSON lines by default; in a terminal (HODEI_LOG_FORMAT=console, the default
// when stderr is a TTY) one short line per notable event (shared/log-console.ts). Child loggers
// carry correlationId, jobId, workerId and sagaId.
import { pino, type Logger as PinoLogger } from 'pino';
import { writeSync } from 'node:fs';
import { consoleDestination } from './log-console.js';
import { logTraceFields } from '../telemetry/tracing.js';

export type Logger = PinoLogger;

export type LogFormat = 'json' | 'console';

export interface LoggerOptions {
  level?: string;
  format?: LogFormat;
  name?: string;
  /** Write to this file descriptor (default 2, stderr, so stdout stays the CLI's). */
  fd?: number;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  const fd = options.fd ?? 2;
  if (options.format === 'console') {
    // Everything at debug and below; at info, only the notable events and the warnings.
    const all = pino.levels.values[level] !== undefined && (pino.levels.values[level] ?? 30) < 30;
    return pino(
      { level, name: options.name, mixin: logTraceFields },
      consoleDestination(all, (line) => writeSync(fd, line)),
    );
  }
  // Lines written inside a span carry its trace_id and span_id.
  return pino(
    { level, name: options.name, mixin: logTraceFields },
    pino.destination({ fd, sync: false }),
  );
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
