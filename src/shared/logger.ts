// Structured logging. JSON in production; readable lines in a terminal (HODEI_LOG_FORMAT=pretty).
// Child loggers carry correlationId, jobId, workerId and sagaId.
import { pino, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

export interface LoggerOptions {
  level?: string;
  pretty?: boolean;
  name?: string;
  /** Write to this file descriptor (default 2, stderr, so stdout stays the CLI's). */
  fd?: number;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  const fd = options.fd ?? 2;
  if (options.pretty) {
    return pino({
      level,
      name: options.name,
      transport: {
        target: 'pino-pretty',
        options: { destination: fd, colorize: false, translateTime: 'HH:MM:ss.l' },
      },
    });
  }
  return pino({ level, name: options.name }, pino.destination({ fd, sync: false }));
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
