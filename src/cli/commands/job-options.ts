// The options shared by `hodei run` and `hodei job submit`, and the QueueJob request they make.
import type { Command } from 'commander';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { QueueJobRequestSchema } from '../../gen/hodei/v1/job_pb.js';
import { CliError } from '../output.js';
import { parseIntFlag, parsePairs, parseTimeoutFlag } from '../parse.js';

export interface JobFlags {
  name?: string;
  env: string[];
  label: string[];
  timeout?: string;
  maxAttempts?: string;
  workdir?: string;
  idempotencyKey?: string;
  correlationId?: string;
}

const collect = (value: string, previous: string[]) => [...previous, value];

export function addJobOptions(command: Command): Command {
  return command
    .option('--name <name>', 'a name for the job')
    .option('--env <KEY=VALUE>', 'environment variable for the command (repeatable)', collect, [])
    .option('--label <KEY=VALUE>', 'label stored with the job (repeatable)', collect, [])
    .option('--timeout <duration>', 'kill the command after this long (500ms, 30s, 2m)')
    .option('--max-attempts <n>', 'runs allowed when workers are lost (default 3)')
    .option('--workdir <dir>', 'working directory of the command on the worker')
    .option('--idempotency-key <key>', 'the same key again returns the first job')
    .option('--correlation-id <id>', 'trace id for everything about this job')
    .argument('[command...]', 'the command and its arguments, after --');
}

export function queueRequest(
  argv: string[],
  flags: JobFlags,
): MessageInitShape<typeof QueueJobRequestSchema> {
  const [command, ...args] = argv;
  if (!command)
    throw new CliError('missing command: put it after --, e.g. hodei run -- echo hello', 2);
  return {
    spec: {
      name: flags.name ?? '',
      command,
      args,
      env: parsePairs('--env', flags.env),
      labels: parsePairs('--label', flags.label),
      workingDir: flags.workdir ?? '',
      timeout: parseTimeoutFlag(flags.timeout),
      maxAttempts: parseIntFlag('--max-attempts', flags.maxAttempts, 1) ?? 0,
    },
    idempotencyKey: flags.idempotencyKey ?? '',
    correlationId: flags.correlationId ?? '',
  };
}
