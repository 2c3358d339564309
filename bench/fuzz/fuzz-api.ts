// The API fuzzer: property-based requests (fast-check) against a real server, over Connect JSON
// (HTTP/1.1) and gRPC (HTTP/2, hand-made frames), to every client RPC. Requests are generated
// from each method's input descriptor: well-formed values, wrong types, hostile strings (NUL,
// lone surrogates, U+FFFD, 100 KB), unknown fields, numbers in forms JSON does not have,
// malformed durations, bytes that are not UTF-8 or not protobuf. Every answer must be OK or a
// client-error code (an INVALID_ARGUMENT naming a field); never INTERNAL, UNKNOWN or
// UNAVAILABLE, and never no answer. Used by test/fuzz (thousands of requests) and by
// `npm run fuzz` (10,000+, with figures for docs/security.md).
import http from 'node:http';
import http2 from 'node:http2';
import fc from 'fast-check';
import {
  ScalarType,
  fromBinary,
  fromJson,
  toBinary,
  type DescField,
  type DescMessage,
  type DescMethod,
  type JsonValue,
} from '@bufbuild/protobuf';
import { Code } from '@connectrpc/connect';
import { JobService, QueueJobResponseSchema } from '../../src/gen/hodei/v1/job_pb.js';
import { OpsService } from '../../src/gen/hodei/v1/ops_pb.js';
import { WorkerAgentService } from '../../src/gen/hodei/v1/worker_pb.js';

/** Every RPC a client can call (the worker's own stream is not one). */
export const CLIENT_METHODS: readonly DescMethod[] = [
  ...JobService.methods,
  ...OpsService.methods,
  ...WorkerAgentService.methods.filter((m) => m.methodKind === 'unary'),
];

const HOSTILE_TEXT = [
  '',
  '\0',
  'a\0b',
  '\uFFFD',
  '\uD800',
  'x\uDC00y',
  '../../etc/passwd',
  "'; DROP TABLE jobs; --",
  '%s%n%x',
  '${HOME}',
  '\u202Eevil',
  'é'.repeat(300),
  '0x10',
  '1e1',
  '1.0000000001s',
  '-1s',
  '99999999999999999999',
  'NaN',
  'JOB_STATE_RUNNING',
  '00000000-0000-0000-0000-000000000000',
];

const text: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 24 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 24 }) },
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_TEXT) },
  { weight: 1, arbitrary: fc.constantFrom('true', 'echo', 'sh', 'PATH', 'A_1', 'team') },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom(300, 5000, 70_000, 100_000), fc.constantFrom('K', 'é', '\0'))
      .map(([n, c]) => c.repeat(n)),
  },
);

const wild: fc.Arbitrary<JsonValue> = fc.oneof(
  text,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(2 ** 31, -(2 ** 31) - 1, 2 ** 53, 1e308, -0.5),
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<JsonValue>,
);

function scalarValue(scalar: ScalarType): fc.Arbitrary<JsonValue> {
  switch (scalar) {
    case ScalarType.STRING:
      return text;
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.BYTES:
      return fc.base64String({ maxLength: 40 });
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return fc.double();
    default:
      return fc.oneof(
        fc.integer({ min: -5, max: 1000 }),
        fc.integer().map(String),
        fc.constantFrom('0x10', '1e1', ' 7', '7.0', '', '18446744073709551616'),
      );
  }
}

function fieldValue(field: DescField, depth: number): fc.Arbitrary<JsonValue> {
  const typed = ((): fc.Arbitrary<JsonValue> => {
    switch (field.fieldKind) {
      case 'scalar':
        return scalarValue(field.scalar);
      case 'enum':
        return fc.oneof(
          fc.constantFrom(...field.enum.values.map((v) => v.name)),
          fc.integer({ min: -1, max: 10 }),
        );
      case 'message':
        return messageValue(field.message, depth + 1);
      case 'list': {
        const item =
          field.listKind === 'scalar'
            ? scalarValue(field.scalar)
            : field.listKind === 'enum'
              ? fc.constantFrom(...field.enum.values.map((v) => v.name))
              : messageValue(field.message, depth + 1);
        return fc.oneof(
          fc.array(item, { maxLength: 4 }),
          fc.constantFrom(1001, 20).map((n) => Array.from({ length: n }, () => 'a')),
        );
      }
      case 'map':
        return fc.oneof(
          fc.dictionary(
            text,
            field.mapKind === 'scalar' ? scalarValue(field.scalar) : fc.constant(null),
            { maxKeys: 4 },
          ),
          fc.constant(Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`K${i}`, 'v']))),
        );
    }
  })();
  return fc.oneof({ weight: 5, arbitrary: typed }, { weight: 1, arbitrary: wild });
}

function messageValue(desc: DescMessage, depth: number): fc.Arbitrary<JsonValue> {
  if (desc.typeName === 'google.protobuf.Duration') {
    return fc.oneof(
      fc.constantFrom('1s', '1.5s', '0s', '30', '1m', '1.0000000001s', '-5s', '999999999999999s'),
      fc.integer({ min: 0, max: 1000 }).map((n) => `${n}s`),
    );
  }
  if (desc.typeName.startsWith('google.protobuf.') || depth > 3) return fc.constant({});
  const entries = desc.fields.map((field) =>
    fc.option(
      fieldValue(field, depth).map((v) => [field.jsonName, v] as const),
      { nil: undefined, freq: 2 },
    ),
  );
  return fc
    .tuple(
      fc.tuple(...entries),
      // An unknown field, now and then.
      fc.oneof(
        { weight: 9, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.tuple(text, wild) },
      ),
    )
    .map(([fields, extra]) => {
      const object: Record<string, JsonValue> = {};
      for (const entry of fields) if (entry) object[entry[0]] = entry[1];
      if (extra) object[extra[0]] = extra[1];
      return object;
    });
}

export type Transport = 'connect-json' | 'grpc';

export interface FuzzRequest {
  method: DescMethod;
  transport: Transport;
  /** The body before framing: JSON text's bytes or a protobuf message's bytes. */
  body: Uint8Array;
  /** What was done to the bytes after they were made. */
  damage: 'none' | 'flip' | 'truncate' | 'random';
}

const QUEUE_JOB = JobService.method.queueJob;

/** A QueueJob a client would send: a command that exists, plain arguments, env and labels. */
const wellFormedQueueJob: fc.Arbitrary<JsonValue> = fc.record(
  {
    spec: fc.record(
      {
        command: fc.constantFrom('true', 'echo', 'sh', 'no-such-command'),
        args: fc.array(fc.string({ maxLength: 20 }), { maxLength: 3 }),
        env: fc.dictionary(
          fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,10}$/),
          fc.string({ maxLength: 20 }),
          {
            maxKeys: 3,
          },
        ),
        labels: fc.dictionary(
          fc.stringMatching(/^[a-z][a-z0-9.-]{0,10}$/),
          fc.string({ maxLength: 20 }),
          {
            maxKeys: 2,
          },
        ),
        name: fc.string({ maxLength: 30 }),
        timeout: fc.constantFrom('5s', '1.5s', '60s'),
        maxAttempts: fc.integer({ min: 1, max: 5 }),
      },
      { requiredKeys: ['command'] },
    ),
    idempotencyKey: fc.stringMatching(/^[a-z0-9-]{1,20}$/),
  },
  { requiredKeys: ['spec'] },
);

/** A request to any client RPC; QueueJob is drawn most often. */
export const fuzzRequest: fc.Arbitrary<FuzzRequest> = fc
  .tuple(
    fc.oneof(
      { weight: 6, arbitrary: fc.constant(QUEUE_JOB) },
      { weight: 4, arbitrary: fc.constantFrom(...CLIENT_METHODS) },
    ),
    fc.constantFrom<Transport>('connect-json', 'grpc'),
    fc.constantFrom<FuzzRequest['damage']>(
      'none',
      'none',
      'none',
      'none',
      'flip',
      'truncate',
      'random',
    ),
    fc.nat(),
    fc.uint8Array({ maxLength: 64 }),
  )
  .chain(([method, transport, damage, where, random]) =>
    (method === QUEUE_JOB
      ? fc.oneof(wellFormedQueueJob, messageValue(method.input, 0))
      : messageValue(method.input, 0)
    ).map((json): FuzzRequest => {
      let body: Uint8Array;
      if (transport === 'connect-json') {
        body = Buffer.from(JSON.stringify(json));
      } else {
        try {
          body = toBinary(
            method.input,
            fromJson(method.input, json, { ignoreUnknownFields: true }),
          );
        } catch {
          body = random; // not a message the library can make: send bytes instead
        }
      }
      if (damage === 'flip' && body.length > 0) {
        body = Uint8Array.from(body);
        body[where % body.length] = 0xff;
      } else if (damage === 'truncate' && body.length > 1) {
        body = body.subarray(0, where % body.length);
      } else if (damage === 'random') {
        body = random;
      }
      return { method, transport, body, damage };
    }),
  );

export interface Answer {
  code: Code | 0;
  message: string;
  /** The id of the job QueueJob answered with. */
  jobId?: string;
}

const CODE_BY_NAME = new Map(
  Object.entries(Code)
    .filter(([, v]) => typeof v === 'number')
    .map(([k, v]) => [k.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase(), v as Code]),
);

function path(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

/** One Connect JSON call over HTTP/1.1 (keep-alive agent); server streams read to their end. */
export function callConnect(
  agent: http.Agent,
  url: string,
  request: FuzzRequest,
  authorization?: string,
): Promise<Answer> {
  const streaming = request.method.methodKind === 'server_streaming';
  return new Promise((resolve, reject) => {
    let body = Buffer.from(request.body);
    if (streaming) {
      const frame = Buffer.alloc(5 + body.length);
      frame.writeUInt32BE(body.length, 1);
      body.copy(frame, 5);
      body = frame;
    }
    const req = http.request(
      `${url}${path(request.method)}`,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': streaming ? 'application/connect+json' : 'application/json',
          'connect-protocol-version': '1',
          ...(authorization === undefined ? {} : { authorization }),
        },
        timeout: 15_000,
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (p: Buffer) => parts.push(p));
        res.on('error', reject);
        res.on('end', () => {
          const bytes = Buffer.concat(parts);
          if (streaming) return resolve(connectStreamAnswer(bytes));
          let json: { code?: string; message?: string; job?: { id?: string } } = {};
          try {
            json = JSON.parse(bytes.toString('utf8')) as typeof json;
          } catch {
            return resolve({ code: Code.Unknown, message: `HTTP ${res.statusCode}: not JSON` });
          }
          if (res.statusCode === 200) return resolve({ code: 0, message: '', jobId: json.job?.id });
          resolve({
            code: CODE_BY_NAME.get(json.code ?? '') ?? Code.Unknown,
            message: json.message ?? `HTTP ${res.statusCode}`,
          });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer in 15 s')));
    req.on('error', reject);
    req.end(body);
  });
}

/** The end-of-stream message of a Connect server stream: its error, if any. */
function connectStreamAnswer(bytes: Buffer): Answer {
  let offset = 0;
  while (offset + 5 <= bytes.length) {
    const flags = bytes[offset] ?? 0;
    const length = bytes.readUInt32BE(offset + 1);
    const payload = bytes.subarray(offset + 5, offset + 5 + length);
    offset += 5 + length;
    if (flags & 0b10) {
      const end = JSON.parse(payload.toString('utf8')) as {
        error?: { code?: string; message?: string };
      };
      if (!end.error) return { code: 0, message: '' };
      return {
        code: CODE_BY_NAME.get(end.error.code ?? '') ?? Code.Unknown,
        message: end.error.message ?? '',
      };
    }
  }
  return { code: Code.Unknown, message: 'stream ended without its end message' };
}

/** One gRPC call with a hand-made frame on an HTTP/2 session; the grpc-status it ends with. */
export function callGrpc(
  session: http2.ClientHttp2Session,
  request: FuzzRequest,
  authorization?: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ':method': 'POST',
      ':path': path(request.method),
      'content-type': 'application/grpc',
      te: 'trailers',
      ...(authorization === undefined ? {} : { authorization }),
    });
    const frame = Buffer.alloc(5 + request.body.length);
    frame.writeUInt32BE(request.body.length, 1);
    frame.set(request.body, 5);
    let headers: http2.IncomingHttpHeaders = {};
    const parts: Buffer[] = [];
    let trailers: http2.IncomingHttpHeaders | undefined;
    const timer = setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), 15_000);
    stream.on('response', (h) => (headers = h));
    stream.on('trailers', (t: http2.IncomingHttpHeaders) => (trailers = t));
    stream.on('data', (p: Buffer) => parts.push(p));
    stream.on('error', (error: Error) => {
      clearTimeout(timer);
      reject(error);
    });
    stream.on('close', () => {
      clearTimeout(timer);
      const status = trailers?.['grpc-status'] ?? headers['grpc-status'];
      if (status === undefined) {
        return resolve({
          code: Code.Unknown,
          message: `no grpc-status (HTTP ${String(headers[':status'])}, rst ${stream.rstCode})`,
        });
      }
      const code = Number(status) as Code | 0;
      const message = decodeURIComponent(
        String(trailers?.['grpc-message'] ?? headers['grpc-message'] ?? ''),
      );
      let jobId: string | undefined;
      if (code === 0 && request.method === QUEUE_JOB) {
        const bytes = Buffer.concat(parts);
        const length = bytes.length >= 5 ? bytes.readUInt32BE(1) : 0;
        jobId = fromBinary(QueueJobResponseSchema, bytes.subarray(5, 5 + length)).job?.id;
      }
      resolve({ code, message, jobId });
    });
    stream.end(frame);
  });
}

/** Codes a client can be answered with for its own bad request (or for what does not exist). */
export const CLIENT_CODES: ReadonlySet<number> = new Set([
  0,
  Code.InvalidArgument,
  Code.NotFound,
  Code.AlreadyExists,
  Code.PermissionDenied,
  Code.Unauthenticated,
  Code.FailedPrecondition,
  Code.ResourceExhausted,
  Code.OutOfRange,
]);

/** An INVALID_ARGUMENT names the field (`spec.env.A: …`, `cannot decode field X …`) or says the
 * body itself was not JSON / not a message. */
const NAMES_A_FIELD =
  /^(the request|[a-z_][a-z0-9_]*([.[]| key:|:))|^[^\n]+: unknown field \(|^cannot decode (field|message) [\w.]+|^request body is not |^protocol error|^parse binary: |^content-encoding/;

export interface FuzzFigures {
  requests: number;
  byCode: Record<string, number>;
  byTransport: Record<Transport, number>;
  /** Answers outside CLIENT_CODES, or INVALID_ARGUMENT naming nothing; with an example each. */
  violations: Array<{
    method: string;
    transport: Transport;
    damage: string;
    code: string;
    message: string;
  }>;
  /** Job ids QueueJob answered OK with (the jobs that must exist afterwards, and only they). */
  acceptedJobIds: Set<string>;
  seconds: number;
}

/** Sends `runs` generated requests, `concurrency` at a time; never throws for an answer. */
export async function runFuzz(options: {
  url: string;
  runs: number;
  seed: number;
  concurrency?: number;
  /** The `authorization` header of the i-th request (none when it returns undefined). */
  authorization?: (i: number) => string | undefined;
}): Promise<FuzzFigures> {
  const requests = fc.sample(fuzzRequest, { numRuns: options.runs, seed: options.seed });
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.concurrency ?? 8 });
  let session = http2.connect(options.url);
  session.on('error', () => undefined);
  const figures: FuzzFigures = {
    requests: 0,
    byCode: {},
    byTransport: { 'connect-json': 0, grpc: 0 },
    violations: [],
    acceptedJobIds: new Set(),
    seconds: 0,
  };
  const started = performance.now();
  let next = 0;
  async function worker(): Promise<void> {
    while (next < requests.length) {
      const index = next++;
      const request = requests[index]!;
      const authorization = options.authorization?.(index);
      let answer: Answer;
      try {
        if (request.transport === 'grpc') {
          if (session.closed || session.destroyed) {
            session = http2.connect(options.url);
            session.on('error', () => undefined);
          }
          answer = await callGrpc(session, request, authorization);
        } else {
          answer = await callConnect(agent, options.url, request, authorization);
        }
      } catch (error) {
        answer = { code: Code.Unavailable, message: `transport: ${String(error)}` };
      }
      figures.requests += 1;
      figures.byTransport[request.transport] += 1;
      const name = answer.code === 0 ? 'ok' : Code[answer.code];
      figures.byCode[name] = (figures.byCode[name] ?? 0) + 1;
      if (answer.jobId) figures.acceptedJobIds.add(answer.jobId);
      const bad =
        !CLIENT_CODES.has(answer.code) ||
        (answer.code === Code.InvalidArgument && !NAMES_A_FIELD.test(answer.message));
      if (bad) {
        figures.violations.push({
          method: request.method.name,
          transport: request.transport,
          damage: request.damage,
          code: name,
          message: answer.message.slice(0, 300),
        });
      }
    }
  }
  await Promise.all(Array.from({ length: options.concurrency ?? 8 }, () => worker()));
  figures.seconds = (performance.now() - started) / 1000;
  agent.destroy();
  session.close();
  return figures;
}
