// The one place where typed errors become RPC status codes.
import { Code, ConnectError } from '@connectrpc/connect';
import { HodeiError, type ErrorCode } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';

const CODES: Record<ErrorCode, Code> = {
  INVALID_ARGUMENT: Code.InvalidArgument,
  NOT_FOUND: Code.NotFound,
  JOB_ILLEGAL_TRANSITION: Code.FailedPrecondition,
  WORKER_ILLEGAL_TRANSITION: Code.FailedPrecondition,
  WORKER_REGISTRATION_REFUSED: Code.Unauthenticated,
  WORKER_NOT_CONNECTED: Code.FailedPrecondition,
  SAGA_STEP_FAILED: Code.Internal,
  SAGA_DEADLINE_EXCEEDED: Code.DeadlineExceeded,
  PROVIDER_FAILED: Code.Unavailable,
  CONFIG_INVALID: Code.InvalidArgument,
  DATA_DIR_LOCKED: Code.FailedPrecondition,
  UNAVAILABLE: Code.Unavailable,
  DEAD_LETTER_NOT_PENDING: Code.FailedPrecondition,
  JOB_OUTPUT_DELETED: Code.FailedPrecondition,
  BUS_REFUSED: Code.FailedPrecondition,
};

export function toConnectError(error: unknown, logger?: Logger): ConnectError {
  if (error instanceof ConnectError) return error;
  if (error instanceof HodeiError) return new ConnectError(error.message, CODES[error.code]);
  logger?.error({ err: error }, 'unexpected error in an RPC');
  return new ConnectError('internal error; see the server log', Code.Internal);
}

/** Runs an RPC body, mapping whatever it throws. */
export async function mapErrors<T>(logger: Logger, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    throw toConnectError(error, logger);
  }
}
