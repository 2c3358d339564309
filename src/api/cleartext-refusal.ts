// The answer to a cleartext request on a port that serves TLS: one sentence saying to use
// https://, in the form the caller's protocol reads as an error message (gRPC status trailers,
// a Connect error body, or plain text for curl and browsers), so `hodei --url http://…` and
// `curl http://…` both say what to change instead of failing on a broken handshake.
import type http from 'node:http';
import type http2 from 'node:http2';

type AnyRequest = http.IncomingMessage | http2.Http2ServerRequest;
type AnyResponse = http.ServerResponse | http2.Http2ServerResponse;

/** gRPC status FAILED_PRECONDITION: the call cannot work as sent; not one to retry as is. */
const GRPC_FAILED_PRECONDITION = '9';

/** The sentence for a request that reached `authority` (host:port) without TLS. */
export function useHttpsMessage(authority: string): string {
  return `this port serves TLS only: use https://${authority}`;
}

export function refuseCleartext(req: AnyRequest, res: AnyResponse, fallbackAuthority: string) {
  const given = req.headers[':authority'] ?? req.headers.host;
  const message = useHttpsMessage(typeof given === 'string' && given ? given : fallbackAuthority);
  const type = req.headers['content-type'] ?? '';
  const reply = res as http.ServerResponse;
  if (type.startsWith('application/grpc')) {
    // A trailers-only gRPC response: status and message in the headers, no body.
    reply.writeHead(200, {
      'content-type': type,
      'grpc-status': GRPC_FAILED_PRECONDITION,
      'grpc-message': encodeURIComponent(message),
    });
    reply.end();
  } else if (/^application\/(json|proto|connect)/.test(type)) {
    reply.writeHead(400, { 'content-type': 'application/json' });
    reply.end(JSON.stringify({ code: 'failed_precondition', message }));
  } else {
    reply.writeHead(400, { 'content-type': 'text/plain' });
    reply.end(`${message}\n`);
  }
  // Resume so an unread request body does not hold the connection open.
  req.resume();
}
