// The options `hodei run` and `hodei job submit` share. Only declares them: parsing happens in
// ../parse.ts once the command runs, so registering commands stays cheap.
import type { Command } from 'commander';

/** Gathers a repeatable option's values (no default, so help shows none). */
export const collect = (value: string, previous: string[] | undefined) => [
  ...(previous ?? []),
  value,
];

export function addJobOptions(command: Command): Command {
  return command
    .option('--name <name>', 'a name for the job')
    .option('--env <KEY=VALUE>', 'environment variable for the command (repeatable)', collect)
    .option(
      '--secret <NAME|NAME=@FILE>',
      'secret variable for the command, its value from stdin or a file; shown as *** (repeatable)',
      collect,
    )
    .option('--timeout <duration>', 'kill the command after this long: 500ms, 30s, 2m')
    .option('--max-attempts <n>', 'runs allowed when workers are lost (default 3)')
    .option('--retries <n>', 'run a failed command (non-zero exit, timeout) again, up to n times')
    .option('--backoff <duration>', 'wait before the first retry, doubling each time (default 1s)')
    .option('--max-backoff <duration>', 'longest wait between retries (default 5m)')
    .option('--label <KEY=VALUE>', 'label stored with the job (repeatable)', collect)
    .option('--workdir <dir>', 'working directory of the command on the worker')
    .option('--idempotency-key <key>', 'queueing again with the same key returns the first job')
    .option('--correlation-id <id>', 'id that ties together everything about this job')
    .argument('[command...]', 'the command and its arguments, after --');
}
