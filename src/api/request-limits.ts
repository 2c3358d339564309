// The written limit of every string, list and map a client can send (the user guide's "Limits"
// table is checked against this one by request-limits.test.ts), and the check every request
// passes before a handler sees it: each string within its limit, free of NUL and of U+FFFD (what
// invalid UTF-8 decodes to, so bytes that were not UTF-8 are refused, not stored changed), each
// list and map within its count. Finer rules (a variable name's shape, the total size of env) are
// the handlers' own (jobs/validate-job-spec.ts); these are the outer bounds that hold for all.
import type { DescField, DescMessage, Message } from '@bufbuild/protobuf';
import { InvalidArgumentError } from '../shared/errors.js';
import { mapEntryName, quoteBounded } from '../shared/text-bounds.js';

/** A string's most characters; a list's or map's most entries (with its keys' and values'
 * most characters, when they are strings). */
export interface FieldLimit {
  /** Most characters (strings), entries (lists, maps) or bytes (bytes fields). */
  readonly max: number;
  readonly key?: number;
  readonly value?: number;
  /** Each item of a list of strings. */
  readonly item?: number;
  /** The values are secrets: an error tells their size, never a prefix of them. */
  readonly secretValues?: boolean;
}

const UUID = 36;

/** By `<message type>.<field name>`; every string, bytes, list and map field a client sends. */
export const REQUEST_LIMITS: Readonly<Record<string, FieldLimit>> = {
  'hodei.v1.QueueJobsRequest.jobs': { max: 1000 },
  'hodei.v1.QueueJobRequest.idempotency_key': { max: 200 },
  'hodei.v1.QueueJobRequest.correlation_id': { max: 200 },
  'hodei.v1.JobSpec.name': { max: 200 },
  'hodei.v1.JobSpec.command': { max: 4096 },
  'hodei.v1.JobSpec.args': { max: 1000, item: 65_536 },
  'hodei.v1.JobSpec.env': { max: 256, key: 256, value: 65_536 },
  'hodei.v1.JobSpec.secrets': { max: 64, key: 256, value: 65_536, secretValues: true },
  'hodei.v1.JobSpec.working_dir': { max: 4096 },
  'hodei.v1.JobSpec.labels': { max: 64, key: 256, value: 256 },
  'hodei.v1.JobSpec.provider': { max: 64 },
  'hodei.v1.GetJobRequest.id': { max: UUID },
  'hodei.v1.ListJobsRequest.states': { max: 16 },
  'hodei.v1.ListJobsRequest.page_token': { max: 200 },
  'hodei.v1.CancelJobRequest.id': { max: UUID },
  'hodei.v1.WatchJobRequest.id': { max: UUID },
  'hodei.v1.GetJobLogsRequest.id': { max: UUID },
  'hodei.v1.ListDeadLettersRequest.states': { max: 16 },
  'hodei.v1.ListDeadLettersRequest.consumer': { max: 200 },
  'hodei.v1.ListDeadLettersRequest.page_token': { max: 200 },
  'hodei.v1.DiscardDeadLetterRequest.reason': { max: 1000 },
  'hodei.v1.CreateApiTokenRequest.name': { max: 64 },
  'hodei.v1.CreateApiTokenRequest.scopes': { max: 4, item: 16 },
  'hodei.v1.RevokeApiTokenRequest.name': { max: 64 },
  'hodei.v1.GetTraceRequest.id': { max: 200 },
  'hodei.v1.RegisterRequest.worker_id': { max: UUID },
  'hodei.v1.RegisterRequest.otp': { max: 200 },
  'hodei.v1.RegisterRequest.hostname': { max: 255 },
  'hodei.v1.RegisterRequest.version': { max: 100 },
};

/** Messages a client sends whose fields are all checked (the worker stream's messages are bounded
 * by the message size, and the server cuts the text it keeps from them). */
export function limitFor(message: DescMessage, field: DescField): FieldLimit | undefined {
  return REQUEST_LIMITS[`${message.typeName}.${field.name}`];
}

function checkText(field: string, value: string, max: number, secret = false): void {
  if (value.length > max) {
    const start = secret ? '' : ` (starts ${quoteBounded(value)})`;
    throw new InvalidArgumentError(
      field,
      `is ${value.length} characters; at most ${max} allowed${start}`,
    );
  }
  if (value.includes('\0')) {
    throw new InvalidArgumentError(field, 'must not contain NUL characters');
  }
  if (value.includes('\uFFFD')) {
    throw new InvalidArgumentError(
      field,
      'is not valid UTF-8 (bytes that are not UTF-8, or the replacement character U+FFFD)',
    );
  }
}

function missing(message: DescMessage, field: DescField): never {
  // A field added to the API without a written limit: a programming error, caught by a test.
  throw new Error(`no limit written for ${message.typeName}.${field.name}`);
}

/** Throws InvalidArgumentError naming the first field out of bounds; `path` prefixes names. */
export function checkRequestLimits(desc: DescMessage, message: Message, path = ''): void {
  const record = message as unknown as Record<string, unknown>;
  for (const field of desc.fields) {
    const name = `${path}${field.name}`;
    let value = record[field.localName];
    if (field.oneof) {
      const oneof = record[field.oneof.localName] as { case?: string; value?: unknown } | undefined;
      if (oneof?.case !== field.localName) continue;
      value = oneof.value;
    }
    switch (field.fieldKind) {
      case 'scalar': {
        if (typeof value === 'string') {
          checkText(name, value, (limitFor(desc, field) ?? missing(desc, field)).max);
        } else if (value instanceof Uint8Array) {
          const limit = limitFor(desc, field) ?? missing(desc, field);
          if (value.length > limit.max) {
            throw new InvalidArgumentError(name, `is ${value.length} bytes; at most ${limit.max}`);
          }
        }
        break;
      }
      case 'message':
        if (value && field.message.typeName.startsWith('hodei.')) {
          checkRequestLimits(field.message, value as Message, `${name}.`);
        }
        break;
      case 'enum':
        break;
      case 'list': {
        const items = value as unknown[];
        const limit = limitFor(desc, field) ?? missing(desc, field);
        if (items.length > limit.max) {
          throw new InvalidArgumentError(
            name,
            `has ${items.length} entries; at most ${limit.max} allowed`,
          );
        }
        items.forEach((item, i) => {
          if (typeof item === 'string') checkText(`${name}[${i}]`, item, limit.item ?? limit.max);
          else if (field.listKind === 'message' && field.message.typeName.startsWith('hodei.')) {
            checkRequestLimits(field.message, item as Message, `${name}[${i}].`);
          }
        });
        break;
      }
      case 'map': {
        const entries = Object.entries(value as Record<string, unknown>);
        const limit = limitFor(desc, field) ?? missing(desc, field);
        if (entries.length > limit.max) {
          throw new InvalidArgumentError(
            name,
            `has ${entries.length} entries; at most ${limit.max} allowed`,
          );
        }
        for (const [key, item] of entries) {
          checkText(`${name} key`, key, limit.key ?? limit.max);
          if (typeof item === 'string') {
            checkText(mapEntryName(name, key), item, limit.value ?? limit.max, limit.secretValues);
          }
        }
        break;
      }
    }
  }
}
