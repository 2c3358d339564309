// One port for everything: gRPC (HTTP/2), Connect and gRPC-Web (HTTP/1.1 or HTTP/2), /metrics,
// /healthz and /readyz. Node's cleartext HTTP/2 server does not accept HTTP/1.1 by itself, so a
// plain TCP server reads the first bytes of each connection and hands it to the HTTP/2 server
// (connection preface "PRI * HTTP/2.0") or to the HTTP/1.1 server. With TLS the same TCP server
// hands every TLS handshake (first byte 0x16) to one secure HTTP/2 server that also speaks
// HTTP/1.1, chosen per connection by ALPN (decision 0014); a cleartext request there is answered
// with a sentence saying to use https:// (cleartext-refusal.ts), never served.
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { ConnectRouter, Interceptor } from '@connectrpc/connect';
import type { Registry } from 'prom-client';
import type { Logger } from '../shared/logger.js';
import { createRpcHandler } from './rpc-handler.js';
import { refuseCleartext } from './cleartext-refusal.js';

export interface HttpServerOptions {
  host: string;
  port: number;
  routes: (router: ConnectRouter) => void;
  registry: Registry;
  /** Largest request or stream message read; a bigger one is refused (RESOURCE_EXHAUSTED). */
  readMaxBytes: number;
  /** Run on every RPC before the request limits are checked. */
  interceptors?: Interceptor[];
  /** When set, a /metrics read must pass it (given the `authorization` header; throws to refuse). */
  authorizeMetrics?: (authorization: string | null) => Promise<void>;
  logger: Logger;
  /** What keeps the server from taking work (the database or the bus away); empty when ready. */
  unready: () => Promise<string[]>;
  /** PEM certificate (chain) and key: serve TLS only. Undefined: cleartext only. */
  tls?: { cert: string; key: string };
}

export interface HttpServer {
  readonly port: number;
  close(): Promise<void>;
}

const PREFACE = Buffer.from('PRI * HTTP/2.0');
/** The first byte of a TLS record carrying a handshake (a ClientHello). */
const TLS_HANDSHAKE = 0x16;
const H2_SETTINGS = { initialWindowSize: 1 << 20 };

type AnyRequest = http.IncomingMessage | http2.Http2ServerRequest;
type AnyResponse = http.ServerResponse | http2.Http2ServerResponse;

export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const rpc = createRpcHandler({
    routes: options.routes,
    readMaxBytes: options.readMaxBytes,
    interceptors: options.interceptors,
    logger: options.logger,
  });

  function handle(req: AnyRequest, res: AnyResponse): void {
    const path = (req.url ?? '').split('?')[0];
    const reply = (status: number, type: string, body: string) => {
      (res as http.ServerResponse).writeHead(status, { 'content-type': type });
      res.end(body);
    };
    if (req.method === 'GET' && path === '/healthz') return reply(200, 'text/plain', 'ok\n');
    if (req.method === 'GET' && path === '/readyz') {
      void options.unready().then(
        (problems) =>
          problems.length === 0
            ? reply(200, 'text/plain', 'ready\n')
            : reply(503, 'text/plain', `not ready: ${problems.join('; ')}\n`),
        (error: unknown) => reply(503, 'text/plain', `not ready: ${String(error)}\n`),
      );
      return;
    }
    if (req.method === 'GET' && path === '/metrics') {
      const header = req.headers.authorization;
      const authorized = options.authorizeMetrics
        ? options.authorizeMetrics(typeof header === 'string' ? header : null)
        : Promise.resolve();
      void authorized.then(
        () =>
          options.registry.metrics().then(
            (text) => reply(200, options.registry.contentType, text),
            (error: unknown) => reply(500, 'text/plain', `metrics failed: ${String(error)}\n`),
          ),
        (error: unknown) =>
          reply(401, 'text/plain', `${error instanceof Error ? error.message : String(error)}\n`),
      );
      return;
    }
    rpc(req, res);
  }

  // Without TLS the cleartext servers serve; with it they only say to use https://.
  const listenHost = options.host.includes(':') ? `[${options.host}]` : options.host;
  const cleartext = options.tls
    ? (req: AnyRequest, res: AnyResponse) =>
        refuseCleartext(req, res, `${listenHost}:${(tcp.address() as net.AddressInfo).port}`)
    : handle;
  const h1 = http.createServer(cleartext);
  h1.keepAliveTimeout = 65_000;
  const h2c = http2.createServer({ settings: H2_SETTINGS }, cleartext);
  const secure = options.tls
    ? http2.createSecureServer(
        {
          ...options.tls,
          allowHTTP1: true,
          ALPNProtocols: ['h2', 'http/1.1'],
          settings: H2_SETTINGS,
        },
        handle,
      )
    : undefined;
  secure?.on('tlsClientError', (error: Error) =>
    options.logger.debug({ error: error.message }, 'TLS handshake failed'),
  );
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.ServerHttp2Session>();
  for (const h2 of secure ? [h2c, secure] : [h2c]) {
    h2.on('session', (session: http2.ServerHttp2Session) => {
      session.setLocalWindowSize(8 << 20);
      sessions.add(session);
      session.on('close', () => sessions.delete(session));
    });
  }

  /** Which server takes a connection, from its first bytes. */
  function route(head: Buffer, socket: net.Socket): void {
    if (secure && head[0] === TLS_HANDSHAKE) {
      secure.emit('connection', socket);
      return;
    }
    const preface = head
      .subarray(0, PREFACE.length)
      .equals(PREFACE.subarray(0, Math.min(head.length, PREFACE.length)));
    (preface ? h2c : h1).emit('connection', socket);
  }

  const tcp = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.once('readable', () => {
      const head =
        (socket.read(PREFACE.length) as Buffer | null) ?? (socket.read() as Buffer | null);
      if (!head) {
        socket.destroy();
        return;
      }
      socket.unshift(head);
      route(head, socket);
    });
  });

  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(options.port, options.host, () => {
      tcp.off('error', reject);
      resolve();
    });
  });
  const address = tcp.address() as net.AddressInfo;

  return {
    port: address.port,
    async close() {
      await new Promise<void>((resolve) => {
        tcp.close(() => resolve());
        for (const session of sessions) session.close();
        h1.closeAllConnections();
        setTimeout(() => {
          for (const socket of sockets) socket.destroy();
        }, 500).unref();
      });
    },
  };
}
