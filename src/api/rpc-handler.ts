// The RPC half of the one port: Connect's router (gRPC, gRPC-Web and Connect) behind three checks
// that hold for every client call. A request larger than readMaxBytes is refused before it is
// parsed (RESOURCE_EXHAUSTED). A Connect JSON request is read here, decoded as strict UTF-8 and
// checked as strict proto3 JSON (strict-json.ts) before the router decodes it. Every request
// message a client sends is checked against the written limits (request-limits.ts) before a
// handler sees it. Errors quote at most a short prefix of what was sent.
import zlib from 'node:zlib';
import type http from 'node:http';
import type http2 from 'node:http2';
import {
  Code,
  ConnectError,
  createConnectRouter,
  type ConnectRouter,
  type ConnectRouterOptions,
  type Interceptor,
} from '@connectrpc/connect';
import {
  compressionBrotli,
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from '@connectrpc/connect-node';
import type { JsonValue } from '@bufbuild/protobuf';
import { createAsyncIterable, type UniversalServerResponse } from '@connectrpc/connect/protocol';
import type { Logger } from '../shared/logger.js';
import { InvalidArgumentError } from '../shared/errors.js';
import { checkStrictJson } from './strict-json.js';
import { checkRequestLimits } from './request-limits.js';
import { toConnectError } from './error-mapping.js';

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

export interface RpcHandlerOptions {
  routes: (router: ConnectRouter) => void;
  /** Largest request or stream message read. */
  readMaxBytes: number;
  /** Run before the limits check (authentication goes first: a stranger learns nothing). */
  interceptors?: Interceptor[];
  logger: Logger;
}

/** The worker's own stream is not a client's request: its messages are bounded by their size,
 * and the server cuts the text it keeps from them. */
const UNCHECKED_METHODS = new Set(['hodei.v1.WorkerAgentService/Connect']);

/** Checks every request message against the written limits. */
const limitsInterceptor: Interceptor = (next) => async (req) => {
  if (UNCHECKED_METHODS.has(`${req.service.typeName}/${req.method.name}`)) return next(req);
  const input = req.method.input;
  const check = (message: unknown) => {
    try {
      checkRequestLimits(input, message as Parameters<typeof checkRequestLimits>[1]);
    } catch (error) {
      throw toConnectError(error);
    }
  };
  if (!req.stream) {
    check(req.message);
    return next(req);
  }
  const messages = req.message;
  return next({
    ...req,
    message: (async function* () {
      for await (const message of messages) {
        check(message);
        yield message;
      }
    })(),
  });
};

const JSON_TYPE = /^application\/json(;\s*charset=utf-8)?$/i;

function errorBody(error: ConnectError): string {
  const code = Code[error.code].replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
  return JSON.stringify({ code, message: error.rawMessage });
}

const HTTP_STATUS: Partial<Record<Code, number>> = {
  [Code.InvalidArgument]: 400,
  [Code.ResourceExhausted]: 429,
};

/** Reads a Connect JSON body: at most `max` bytes, decompressed, strict UTF-8, parsed. */
async function readJsonBody(req: NodeRequest, max: number): Promise<JsonValue> {
  const tooLarge = (size: string) =>
    new ConnectError(
      `request is ${size}; at most ${max} bytes are read (HODEI_MAX_MESSAGE_BYTES)`,
      Code.ResourceExhausted,
    );
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > max) throw tooLarge(`${declared} bytes`);
  const parts: Buffer[] = [];
  let size = 0;
  for await (const part of req as AsyncIterable<Buffer>) {
    size += part.length;
    if (size > max) throw tooLarge(`larger than that`);
    parts.push(part);
  }
  let body = Buffer.concat(parts);
  const encoding = String(req.headers['content-encoding'] ?? 'identity').toLowerCase();
  try {
    if (encoding === 'gzip') body = zlib.gunzipSync(body, { maxOutputLength: max });
    else if (encoding === 'br') body = zlib.brotliDecompressSync(body, { maxOutputLength: max });
    else if (encoding !== 'identity') {
      throw new ConnectError(`content-encoding ${encoding} is not supported`, Code.Unimplemented);
    }
  } catch (error) {
    if (error instanceof ConnectError) throw error;
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge('larger');
    throw new ConnectError(`request body is not valid ${encoding}`, Code.InvalidArgument);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    // Name the field: decode leniently and find the string that holds a replacement character.
    text = new TextDecoder('utf-8').decode(body);
  }
  try {
    return JSON.parse(text) as JsonValue;
  } catch (error) {
    throw new ConnectError(
      `request body is not JSON: ${(error as Error).message.slice(0, 200)}`,
      Code.InvalidArgument,
    );
  }
}

/** The protocol library answers a binary message it cannot parse with INTERNAL ("parse binary:
 * …"), as if the server had failed; it is the client's bad input, and is answered
 * INVALID_ARGUMENT here: in the gRPC status (a trailer, or a header when the response has no
 * body) or in a Connect unary error body. */
async function parseErrorIsInvalidArgument(
  uRes: UniversalServerResponse,
): Promise<UniversalServerResponse> {
  const isParseError = (message: string | null | undefined) =>
    typeof message === 'string' && decodeURIComponent(message).startsWith('parse binary:');
  const fix = (headers: Headers | undefined) => {
    if (headers?.get('grpc-status') === '13' && isParseError(headers.get('grpc-message'))) {
      headers.set('grpc-status', String(Code.InvalidArgument));
    }
  };
  const body = uRes.body;
  if (!body || !(Symbol.asyncIterator in body)) return uRes;
  if (uRes.status === 500) {
    // A Connect unary error: one small JSON body, read whole to decide the status.
    const parts: Uint8Array[] = [];
    for await (const part of body) parts.push(part);
    const bytes = Buffer.concat(parts);
    let json: { code?: string; message?: string } | undefined;
    try {
      json = JSON.parse(bytes.toString('utf8')) as typeof json;
    } catch {
      json = undefined;
    }
    const replaced =
      json?.code === 'internal' && isParseError(json.message)
        ? Buffer.from(JSON.stringify({ code: 'invalid_argument', message: json.message }))
        : undefined;
    if (replaced) uRes.header?.set('content-length', String(replaced.length));
    return {
      ...uRes,
      status: replaced ? 400 : uRes.status,
      body: createAsyncIterable([replaced ?? bytes]),
    };
  }
  fix(uRes.header);
  return {
    ...uRes,
    body: (async function* () {
      yield* body;
      fix(uRes.header);
      fix(uRes.trailer);
    })(),
  };
}

export function createRpcHandler(options: RpcHandlerOptions) {
  const routerOptions: ConnectRouterOptions = {
    readMaxBytes: options.readMaxBytes,
    acceptCompression: [compressionGzip, compressionBrotli],
    jsonOptions: { ignoreUnknownFields: false },
    interceptors: [...(options.interceptors ?? []), limitsInterceptor],
  };
  const router = createConnectRouter(routerOptions);
  options.routes(router);
  const handlers = new Map(router.handlers.map((h) => [h.requestPath, h]));

  function reply(res: NodeResponse, error: ConnectError, close: boolean): void {
    if (res.headersSent) return;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (close && !('stream' in res)) headers.connection = 'close';
    (res as http.ServerResponse).writeHead(HTTP_STATUS[error.code] ?? 500, headers);
    res.end(errorBody(error));
  }

  return function handle(req: NodeRequest, res: NodeResponse): void {
    const handler = handlers.get((req.url ?? '').split('?', 2)[0] ?? '');
    if (!handler) {
      (res as http.ServerResponse).writeHead(404);
      res.end();
      return;
    }
    const strict =
      req.method === 'POST' &&
      handler.method.methodKind === 'unary' &&
      JSON_TYPE.test(String(req.headers['content-type'] ?? ''));
    void (async () => {
      let parsed: JsonValue | undefined;
      if (strict) {
        try {
          parsed = await readJsonBody(req, options.readMaxBytes);
          checkStrictJson(handler.method.input, parsed);
        } catch (error) {
          const rpcError =
            error instanceof InvalidArgumentError || error instanceof ConnectError
              ? toConnectError(error)
              : new ConnectError(
                  `request could not be read: ${String(error)}`,
                  Code.InvalidArgument,
                );
          // A body left unread cannot be followed by another request on the connection.
          reply(res, rpcError, rpcError.code === Code.ResourceExhausted);
          return;
        }
      }
      const uReq = universalRequestFromNodeRequest(req, res, parsed, undefined);
      try {
        await universalResponseToNodeResponse(
          await parseErrorIsInvalidArgument(await handler(uReq)),
          res,
        );
      } catch (reason) {
        if (ConnectError.from(reason).code === Code.Aborted) return;
        options.logger.warn(
          { rpc: handler.requestPath, error: String(reason) },
          'writing an RPC response failed',
        );
      }
    })();
  };
}
