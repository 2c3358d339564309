// The agent's side of WorkerAgentService: one HTTP/2 connection (TLS for an https:// server,
// verified with the CA bundle the provider named in HODEI_CA), one Register call, then one
// bidirectional Connect stream whose outgoing side is a queue anyone in the agent can push to.
// The queue is flow-controlled (shared/async-queue.ts): output waits for a slow server, heartbeats
// go ahead of it.
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { createClient } from '@connectrpc/connect';
import { Http2SessionManager, createGrpcTransport } from '@connectrpc/connect-node';
import {
  WorkerAgentService,
  WorkerMessageSchema,
  type RegisterRequestSchema,
  type RegisterResponse,
  type ServerMessage,
  type WorkerMessage,
} from '../gen/hodei/v1/worker_pb.js';
import { createAsyncQueue } from '../shared/async-queue.js';

/** Must match the server's SESSION_HEADER (api/worker-agent-service.ts). */
export const SESSION_HEADER = 'x-hodei-session';
/** The provisioning correlation id travels as RPC metadata (DESIGN §3 rule 5). */
export const CORRELATION_HEADER = 'x-correlation-id';

export type WorkerMessageBody = MessageInitShape<typeof WorkerMessageSchema>['body'];
export type RegisterInit = MessageInitShape<typeof RegisterRequestSchema>;

/** A control plane that does not answer Register in this time is as good as a refusal. */
const REGISTER_TIMEOUT_MS = 10_000;
/**
 * HTTP/2 pings find a control plane that vanished without closing the connection (a host gone,
 * a partition) within ~10 s; without them TCP would keep the stream "open" for many minutes and
 * the agent would keep running a job nobody records.
 */
const PING_INTERVAL_MS = 5_000;
const PING_TIMEOUT_MS = 5_000;

export interface AgentConnection {
  register(request: RegisterInit, signal?: AbortSignal): Promise<RegisterResponse>;
  /** Opens the stream; iterate the result to read the server's messages. Call once. */
  open(sessionToken: string): AsyncIterable<ServerMessage>;
  /** Queues a message for the stream (dropped once the connection is closed). */
  send(body: WorkerMessageBody): void;
  /** Queues a message ahead of any waiting output (heartbeats). */
  sendUrgent(body: WorkerMessageBody): void;
  /** Queues output of `bytes` bytes; it counts in the backlog until the stream takes it. */
  sendOutput(body: WorkerMessageBody, bytes: number): void;
  /** Bytes of output queued and not yet taken by the stream. */
  backlogBytes(): number;
  /** Calls `listener` each time the backlog falls to `bytes` or below; returns an unsubscribe. */
  onBacklogBelow(bytes: number, listener: () => void): () => void;
  /** Ends the stream and the connection; idempotent. */
  close(): void;
}

/**
 * `ca`: PEM text of the CA bundle that verifies an https:// server; undefined: the system trust
 * store. `traceparent`: the span that started this worker, sent back on every call.
 */
export function createAgentConnection(
  serverUrl: string,
  correlationId = '',
  ca?: string,
  traceparent = '',
): AgentConnection {
  const metadata: Record<string, string> = {
    ...(correlationId ? { [CORRELATION_HEADER]: correlationId } : {}),
    ...(traceparent ? { traceparent } : {}),
  };
  const sessionManager = new Http2SessionManager(
    serverUrl,
    { pingIntervalMs: PING_INTERVAL_MS, pingTimeoutMs: PING_TIMEOUT_MS },
    ca === undefined ? undefined : { ca },
  );
  const client = createClient(
    WorkerAgentService,
    createGrpcTransport({ baseUrl: serverUrl, sessionManager }),
  );
  const outgoing = createAsyncQueue<WorkerMessage>();
  const streamCall = new AbortController();
  let closed = false;

  return {
    register: (request, signal) =>
      client.register(request, { signal, timeoutMs: REGISTER_TIMEOUT_MS, headers: metadata }),
    open: (sessionToken) =>
      client.connect(outgoing, {
        headers: { ...metadata, [SESSION_HEADER]: sessionToken },
        signal: streamCall.signal,
      }),
    send(body) {
      outgoing.push(create(WorkerMessageSchema, { body }));
    },
    sendUrgent(body) {
      outgoing.pushUrgent(create(WorkerMessageSchema, { body }));
    },
    sendOutput(body, bytes) {
      outgoing.push(create(WorkerMessageSchema, { body }), bytes);
    },
    backlogBytes: () => outgoing.backlogBytes,
    onBacklogBelow: (bytes, listener) => outgoing.onBacklogBelow(bytes, listener),
    close() {
      if (closed) return;
      closed = true;
      outgoing.close();
      streamCall.abort();
      sessionManager.abort();
    },
  };
}
