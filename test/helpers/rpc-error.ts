// The error an RPC failed with; the test fails if the call succeeded or failed with anything that
// is not a ConnectError.
import { expect } from 'vitest';
import { ConnectError } from '@connectrpc/connect';

export async function rpcError(call: Promise<unknown>): Promise<ConnectError> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConnectError);
  return error as ConnectError;
}
