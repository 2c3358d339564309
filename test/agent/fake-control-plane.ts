// A scripted control plane for agent tests: a real Connect server (HTTP/2 on 127.0.0.1) that
// implements WorkerAgentService, accepts each issued one-time password once, records everything
// agents send, and lets the test push RunJob/CancelRun or end a worker's stream.
import { randomUUID } from 'node:crypto';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { Code, ConnectError, type ConnectRouter } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import {
  RegisterResponseSchema,
  ServerMessageSchema,
  WorkerAgentService,
  type RegisterRequest,
  type ServerMessage,
  type WorkerMessage,
} from '../../src/gen/hodei/v1/worker_pb.js';
import { createAsyncQueue, type AsyncQueue } from '../../src/shared/async-queue.js';
import { waitFor } from '../helpers/procs.js';

export type ServerMessageBody = MessageInitShape<typeof ServerMessageSchema>['body'];

export interface WorkerStream {
  readonly workerId: string;
  readonly received: WorkerMessage[];
  push(body: ServerMessageBody): void;
  /** Ends the server side of the stream (as the control plane does for a lost worker). */
  end(): void;
  readonly ended: boolean;
  /** Stops reading the worker's messages (a slow control plane) until `resume`. */
  pause(): void;
  resume(): void;
  /** When each message arrived (Date.now()), parallel to `received`. */
  readonly arrivals: number[];
}

export interface FakeControlPlane {
  readonly url: string;
  readonly registrations: RegisterRequest[];
  /** x-correlation-id of each Register and Connect call, in order. */
  readonly correlationHeaders: string[];
  /** A worker the control plane expects: its id and its one valid OTP. */
  issueWorker(): { workerId: string; otp: string };
  waitForStream(workerId: string): Promise<WorkerStream>;
  close(): Promise<void>;
}

export const HEARTBEAT_MS = 100;

export async function startFakeControlPlane(): Promise<FakeControlPlane> {
  const otps = new Map<string, string>();
  const tokens = new Map<string, string>();
  const streams = new Map<string, WorkerStream>();
  const registrations: RegisterRequest[] = [];
  const correlationHeaders: string[] = [];

  const routes = (router: ConnectRouter) =>
    router.service(WorkerAgentService, {
      register(request, ctx) {
        registrations.push(request);
        correlationHeaders.push(ctx.requestHeader.get('x-correlation-id') ?? '');
        if (otps.get(request.workerId) !== request.otp || request.otp === '') {
          throw new ConnectError('invalid one-time password', Code.PermissionDenied);
        }
        otps.delete(request.workerId); // valid once
        const token = randomUUID();
        tokens.set(token, request.workerId);
        return create(RegisterResponseSchema, {
          sessionToken: token,
          heartbeatIntervalMs: HEARTBEAT_MS,
        });
      },
      async *connect(requests, ctx) {
        const workerId = tokens.get(ctx.requestHeader.get('x-hodei-session') ?? '');
        if (!workerId) throw new ConnectError('bad session', Code.Unauthenticated);
        correlationHeaders.push(ctx.requestHeader.get('x-correlation-id') ?? '');
        const outgoing: AsyncQueue<ServerMessage> = createAsyncQueue();
        const received: WorkerMessage[] = [];
        const arrivals: number[] = [];
        let paused: { promise: Promise<void>; resolve: () => void } | undefined;
        const stream: WorkerStream = {
          workerId,
          received,
          arrivals,
          push: (body) => outgoing.push(create(ServerMessageSchema, { body })),
          end: () => outgoing.close(),
          get ended() {
            return outgoing.closed;
          },
          pause() {
            if (paused) return;
            let resolve!: () => void;
            const promise = new Promise<void>((r) => (resolve = r));
            paused = { promise, resolve };
          },
          resume() {
            paused?.resolve();
            paused = undefined;
          },
        };
        streams.set(workerId, stream);
        void (async () => {
          try {
            for await (const message of requests) {
              received.push(message);
              arrivals.push(Date.now());
              if (paused) await paused.promise;
            }
          } catch {
            // the agent went away
          } finally {
            outgoing.close();
          }
        })();
        ctx.signal.addEventListener('abort', () => outgoing.close(), { once: true });
        yield* outgoing;
      },
    });

  const server = http2.createServer(connectNodeAdapter({ routes }));
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    registrations,
    correlationHeaders,
    issueWorker() {
      const worker = { workerId: randomUUID(), otp: randomUUID() };
      otps.set(worker.workerId, worker.otp);
      return worker;
    },
    waitForStream: (workerId) => waitFor(`stream of ${workerId}`, () => streams.get(workerId)),
    async close() {
      for (const stream of streams.values()) stream.end();
      for (const session of sessions) session.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
