// A failure the CLI reports as one sentence on stderr and an exit code: 1 for errors, 2 for
// usage errors (bad flags or arguments, caught before anything is sent to the server).
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_ERROR,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A mistake in how the command was called. */
export function usageError(message: string): CliError {
  return new CliError(message, EXIT_USAGE);
}
