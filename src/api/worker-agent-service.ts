// WorkerAgentService: registration with a one-time password, then one bidirectional stream per
// worker (served by worker-stream.ts). Crash-only (invariant 4): when the stream ends, the worker
// is lost for good.
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import type { WorkerAgentService } from '../gen/hodei/v1/worker_pb.js';
import { RegisterResponseSchema } from '../gen/hodei/v1/worker_pb.js';
import type { Logger } from '../shared/logger.js';
import { InvalidArgumentError } from '../shared/errors.js';
import { isUuid } from '../shared/ids.js';
import type { WorkerRegistration } from '../workers/worker-registration.js';
import type { SessionTokens } from './session-token.js';
import { mapErrors } from './error-mapping.js';
import { serveWorkerStream, type WorkerStreamDeps } from './worker-stream.js';

export interface WorkerAgentDeps extends WorkerStreamDeps {
  registration: WorkerRegistration;
  tokens: SessionTokens;
  logger: Logger;
  heartbeatIntervalMs: number;
}

export const SESSION_HEADER = 'x-hodei-session';

export function workerAgentServiceImpl(
  deps: WorkerAgentDeps,
): ServiceImpl<typeof WorkerAgentService> {
  const { logger } = deps;

  return {
    register: (req) =>
      mapErrors(logger, async () => {
        if (!isUuid(req.workerId))
          throw new InvalidArgumentError('worker_id', 'must be a worker id (a UUID)');
        // Any other refusal, an empty password included, is the one UNAUTHENTICATED error.
        await deps.registration.register(req.workerId, req.otp);
        logger.info(
          { workerId: req.workerId, pid: req.pid, hostname: req.hostname },
          'worker registered',
        );
        return create(RegisterResponseSchema, {
          sessionToken: deps.tokens.issue(req.workerId),
          heartbeatIntervalMs: deps.heartbeatIntervalMs,
        });
      }),

    async *connect(requests, ctx) {
      // The token opens this one stream: spent here, whether the stream then lives or not.
      const workerId = deps.tokens.spend(ctx.requestHeader.get(SESSION_HEADER) ?? '');
      if (!workerId)
        throw new ConnectError(
          `missing, invalid or already used ${SESSION_HEADER} header`,
          Code.Unauthenticated,
        );
      // The span that started the worker, for the trace of its stream (untrusted: only a parent).
      const started = {
        traceparent: ctx.requestHeader.get('traceparent') ?? undefined,
        correlationId: ctx.requestHeader.get('x-correlation-id') ?? undefined,
      };
      yield* serveWorkerStream(workerId, requests, ctx.signal, deps, started);
    },
  };
}
