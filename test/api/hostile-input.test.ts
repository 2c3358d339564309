// Hostile and malformed requests against a real control plane (in this process, on PostgreSQL),
// over Connect JSON (raw HTTP/1.1 bodies, as curl sends them) and over gRPC: each is refused with
// INVALID_ARGUMENT naming the field (or RESOURCE_EXHAUSTED when too large, ALREADY_EXISTS for a
// reused idempotency key), quoting at most a short prefix of the bad value, and stores nothing.
import http from 'node:http';
import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Code, ConnectError, createClient, type Client } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { create, toBinary } from '@bufbuild/protobuf';
import { startInProcessServer } from '../helpers/in-process-server.js';
import type { TestDatabase } from '../helpers/db.js';
import { JobService, QueueJobRequestSchema } from '../../src/gen/hodei/v1/job_pb.js';

let t: TestDatabase;
let url: string;
let jobs: Client<typeof JobService>;
let stopServer: () => Promise<void>;

beforeAll(async () => {
  const started = await startInProcessServer({
    bus: 'tables',
    // The worker command exits at once: queued jobs stay queued, nothing runs.
    overrides: { maxMessageBytes: 1024 * 1024 },
  });
  ({ t } = started);
  url = started.server.url;
  stopServer = started.stop;
  jobs = createClient(JobService, createGrpcTransport({ baseUrl: url }));
});
afterAll(async () => {
  await stopServer?.();
});

async function jobCount(): Promise<number> {
  const rows = await t.db.query<{ n: string }>('SELECT count(*)::text AS n FROM jobs');
  return Number(rows.rows[0]?.n);
}

/** POSTs raw bytes as Connect JSON; returns the status and the parsed body. */
function postJson(
  body: string | Buffer,
  path = '/hodei.v1.JobService/QueueJob',
): Promise<{ status: number; json: { code?: string; message?: string } }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${url}${path}`,
      { method: 'POST', headers: { 'content-type': 'application/json' } },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (p: Buffer) => parts.push(p));
        res.on('end', () => {
          const text = Buffer.concat(parts).toString('utf8');
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as { code?: string } });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** One gRPC call with a hand-made message; the status and message from its trailers. */
function rawGrpc(path: string, message: Uint8Array): Promise<{ status: string; message: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url);
    session.on('error', reject);
    const stream = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    frame.set(message, 5);
    let headers: http2.IncomingHttpHeaders = {};
    stream.on('response', (h) => (headers = h));
    stream.on('trailers', (trailers: http2.IncomingHttpHeaders) => {
      session.close();
      resolve({
        status: String(trailers['grpc-status'] ?? headers['grpc-status']),
        message: String(trailers['grpc-message'] ?? headers['grpc-message'] ?? ''),
      });
    });
    stream.on('data', () => undefined);
    stream.on('end', () => {
      session.close();
      resolve({
        status: String(headers['grpc-status']),
        message: String(headers['grpc-message'] ?? ''),
      });
    });
    stream.end(frame);
  });
}

async function grpcError(call: () => Promise<unknown>): Promise<ConnectError> {
  try {
    await call();
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error('the call succeeded');
}

describe('Connect JSON', () => {
  const refusals: Array<[string, string, RegExp]> = [
    [
      'an unknown field',
      '{"spec":{"command":"echo","maxAttempt":1}}',
      /^spec\.maxAttempt: unknown field/,
    ],
    [
      'a hex number',
      '{"spec":{"command":"echo","maxAttempts":"0x10"}}',
      /^spec\.max_attempts: .*decimal/,
    ],
    [
      'an exponent in a string',
      '{"spec":{"command":"echo","maxAttempts":"1e1"}}',
      /^spec\.max_attempts:/,
    ],
    [
      'a fraction for an integer',
      '{"spec":{"command":"echo","maxAttempts":1.5}}',
      /^spec\.max_attempts: must be a whole number/,
    ],
    [
      'an int32 out of range',
      '{"spec":{"command":"echo","maxAttempts":4294967296}}',
      /^spec\.max_attempts: .*out of range/,
    ],
    [
      'ten decimals in a duration',
      '{"spec":{"command":"echo","timeout":"1.0000000001s"}}',
      /^spec\.timeout: must be a duration/,
    ],
    [
      'a duration without its unit',
      '{"spec":{"command":"echo","timeout":"30"}}',
      /^spec\.timeout: must be a duration/,
    ],
    ['a number for a string', '{"spec":{"command":5}}', /^spec\.command: must be a string/],
    [
      'a NUL in the name',
      '{"spec":{"command":"echo","name":"a\\u0000b"}}',
      /^spec\.name: must not contain NUL/,
    ],
    [
      'a NUL in a label value',
      '{"spec":{"command":"echo","labels":{"a":"x\\u0000"}}}',
      /^spec\.labels\.a: must not contain NUL/,
    ],
    ['a list for the request', '[1]', /^the request: must be a JSON object/],
    ['a list for env', '{"spec":{"command":"echo","env":[]}}', /^spec\.env: must be a JSON object/],
    ['an unknown enum name', '{"states":["RUNNING"]}', /^states\[0\]: "RUNNING" is not one of/],
  ];
  for (const [what, body, message] of refusals) {
    it(`refuses ${what} with INVALID_ARGUMENT naming the field`, async () => {
      const before = await jobCount();
      const path = body.startsWith('{"states"')
        ? '/hodei.v1.JobService/ListJobs'
        : '/hodei.v1.JobService/QueueJob';
      const { status, json } = await postJson(body, path);
      expect(json.code).toBe('invalid_argument');
      expect(status).toBe(400);
      expect(json.message).toMatch(message);
      expect(await jobCount()).toBe(before);
    });
  }

  it('refuses bytes that are not UTF-8, naming the field', async () => {
    const body = Buffer.concat([
      Buffer.from('{"spec":{"command":"echo","name":"a'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('b"}}'),
    ]);
    const { json } = await postJson(body);
    expect(json.code).toBe('invalid_argument');
    expect(json.message).toMatch(/^spec\.name: is not valid UTF-8/);
  });

  it('quotes at most a short prefix of a 100 KB bad value', async () => {
    const key = 'K'.repeat(100_000);
    const { json } = await postJson(
      JSON.stringify({ spec: { command: 'echo', env: { [key]: 'v' } } }),
    );
    expect(json.code).toBe('invalid_argument');
    expect(json.message).toMatch(/^spec\.env key: is 100000 characters; at most 256/);
    expect(json.message!.length).toBeLessThan(300);
  });

  it('refuses a body over the size limit with RESOURCE_EXHAUSTED before parsing it', async () => {
    const { status, json } = await postJson(
      JSON.stringify({ spec: { command: 'echo', workingDir: 'x'.repeat(2 * 1024 * 1024) } }),
    );
    expect(json.code).toBe('resource_exhausted');
    expect(status).toBe(429);
  });

  it('answers a reused idempotency key with another spec ALREADY_EXISTS naming the key', async () => {
    const first = await postJson('{"spec":{"command":"echo"},"idempotencyKey":"key-1"}');
    expect(first.status).toBe(200);
    const same = await postJson('{"spec":{"command":"echo"},"idempotencyKey":"key-1"}');
    expect(same.status).toBe(200);
    const other = await postJson('{"spec":{"command":"true"},"idempotencyKey":"key-1"}');
    expect(other.json.code).toBe('already_exists');
    expect(other.json.message).toMatch(
      /^idempotency_key "key-1" was used for job .* differs in command/,
    );
  });

  it('accepts integers as JSON numbers or decimal strings', async () => {
    const { status } = await postJson(
      '{"spec":{"command":"echo","maxAttempts":"16","timeout":"1.5s"}}',
    );
    expect(status).toBe(200);
  });
});

describe('gRPC', () => {
  it('refuses a 100 KB env key with INVALID_ARGUMENT and a short message (not a broken stream)', async () => {
    const error = await grpcError(() =>
      jobs.queueJob({ spec: { command: 'echo', env: { ['K'.repeat(100_000)]: 'v' } } }),
    );
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toMatch(/^spec\.env key: is 100000 characters/);
    expect(error.rawMessage.length).toBeLessThan(300);
  });

  it('refuses a NUL in a label value and a working_dir over its limit', async () => {
    const before = await jobCount();
    const nul = await grpcError(() =>
      jobs.queueJob({ spec: { command: 'echo', labels: { team: 'a\0' } } }),
    );
    expect(nul.code).toBe(Code.InvalidArgument);
    expect(nul.rawMessage).toMatch(/^spec\.labels\.team: must not contain NUL/);
    const long = await grpcError(() =>
      jobs.queueJob({ spec: { command: 'echo', workingDir: '/'.repeat(5000) } }),
    );
    expect(long.code).toBe(Code.InvalidArgument);
    expect(long.rawMessage).toMatch(/^spec\.working_dir: is 5000 characters; at most 4096/);
    expect(await jobCount()).toBe(before);
  });

  it('refuses invalid UTF-8 in a binary message, naming the field', async () => {
    // A valid message with the name "ab", whose two bytes are then made invalid UTF-8, sent as
    // one gRPC frame over a raw HTTP/2 stream.
    const bytes = toBinary(
      QueueJobRequestSchema,
      create(QueueJobRequestSchema, { spec: { command: 'echo', name: 'ab' } }),
    );
    const at = Buffer.from(bytes).indexOf('ab');
    bytes[at] = 0xff;
    bytes[at + 1] = 0xfe;
    const { status, message } = await rawGrpc('/hodei.v1.JobService/QueueJob', bytes);
    expect(status).toBe(String(Code.InvalidArgument));
    expect(decodeURIComponent(message)).toMatch(/^spec\.name: is not valid UTF-8/);
  });

  it('answers bytes that are not a protobuf message INVALID_ARGUMENT, not INTERNAL', async () => {
    const garbage = Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]);
    const grpc = await rawGrpc('/hodei.v1.JobService/QueueJob', garbage);
    expect(grpc.status).toBe(String(Code.InvalidArgument));
    const connect = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(
        `${url}/hodei.v1.JobService/QueueJob`,
        { method: 'POST', headers: { 'content-type': 'application/proto' } },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (p: Buffer) => parts.push(p));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString() }),
          );
        },
      );
      req.on('error', reject);
      req.end(garbage);
    });
    expect(connect.status).toBe(400);
    expect(connect.body).toMatch(/"code":"invalid_argument"/);
  });

  it('refuses a message over the size limit with RESOURCE_EXHAUSTED', async () => {
    const error = await grpcError(() =>
      jobs.queueJob({ spec: { command: 'echo', args: ['x'.repeat(2 * 1024 * 1024)] } }),
    );
    expect(error.code).toBe(Code.ResourceExhausted);
  });
});
