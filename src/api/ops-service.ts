// OpsService: what an operator asks of the control plane: the workers, and the dead letters
// (list, read, replay once, discard once).
import { create } from '@bufbuild/protobuf';
import type { ServiceImpl } from '@connectrpc/connect';
import {
  ApiTokenSchema,
  CreateApiTokenResponseSchema,
  ListApiTokensResponseSchema,
  RevokeApiTokenResponseSchema,
  DiscardDeadLetterResponseSchema,
  GetDeadLetterResponseSchema,
  ListDeadLettersResponseSchema,
  ReplayDeadLetterResponseSchema,
  type OpsService,
} from '../gen/hodei/v1/ops_pb.js';
import { ListWorkersResponseSchema } from '../gen/hodei/v1/worker_pb.js';
import type { Db } from '../db/db.js';
import type { Logger } from '../shared/logger.js';
import { InvalidArgumentError, NotFoundError } from '../shared/errors.js';
import { quoteBounded } from '../shared/text-bounds.js';
import { listWorkers } from '../workers/worker-sql.js';
import type { DeadLetters } from '../deadletter/dead-letters.js';
import type { FailedEventState } from '../deadletter/failed-events-sql.js';
import { workerToPb } from './convert.js';
import { traceToPb } from './convert-trace.js';
import { readTrace } from '../trace/read-trace.js';
import {
  deadLetterIdFromPb,
  deadLetterStateFromPb,
  deadLetterToPb,
} from './convert-dead-letter.js';
import { decodeDeadLetterPageToken, encodeDeadLetterPageToken } from './page-token.js';
import { mapErrors } from './error-mapping.js';
import type { ApiTokens } from '../auth/api-tokens.js';
import type { ApiTokenRecord } from '../auth/api-token-sql.js';
import { parseScopes } from '../auth/api-token.js';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';

function apiTokenToPb(record: ApiTokenRecord) {
  return create(ApiTokenSchema, {
    name: record.name,
    scopes: record.scopes,
    createdAt: timestampFromDate(record.createdAt),
    revokedAt: record.revokedAt ? timestampFromDate(record.revokedAt) : undefined,
    lastUsedAt: record.lastUsedAt ? timestampFromDate(record.lastUsedAt) : undefined,
  });
}

/** A discard reason is a note, not a document. */
const MAX_REASON_LENGTH = 1000;

export function opsServiceImpl(deps: {
  db: Db;
  deadLetters: DeadLetters;
  apiTokens: ApiTokens;
  logger: Logger;
}): ServiceImpl<typeof OpsService> {
  const { deadLetters, logger, apiTokens } = deps;
  return {
    createApiToken: (req) =>
      mapErrors(logger, async () => {
        const { token, record } = await apiTokens.create(
          req.name,
          parseScopes(req.scopes, 'scopes'),
        );
        logger.info({ token: record.name, scopes: record.scopes }, 'API token created');
        return create(CreateApiTokenResponseSchema, { apiToken: apiTokenToPb(record), token });
      }),

    listApiTokens: () =>
      mapErrors(logger, async () =>
        create(ListApiTokensResponseSchema, {
          apiTokens: (await apiTokens.list()).map(apiTokenToPb),
        }),
      ),

    revokeApiToken: (req) =>
      mapErrors(logger, async () => {
        const record = await apiTokens.revoke(req.name);
        logger.info({ token: record.name }, 'API token revoked');
        return create(RevokeApiTokenResponseSchema, { apiToken: apiTokenToPb(record) });
      }),

    getTrace: (req) =>
      mapErrors(logger, async () => {
        if (req.id === '') throw new InvalidArgumentError('id', 'a job id or a correlation id');
        const trace = await readTrace(deps.db, req.id);
        if (!trace) throw new NotFoundError('job or correlation id', quoteBounded(req.id));
        return traceToPb(trace);
      }),

    listWorkers: () =>
      mapErrors(logger, async () =>
        create(ListWorkersResponseSchema, {
          workers: (await listWorkers(deps.db, 200)).map(workerToPb),
        }),
      ),

    listDeadLetters: (req) =>
      mapErrors(logger, async () => {
        const states: FailedEventState[] = req.states.map((s) => {
          const state = deadLetterStateFromPb(s);
          if (!state) throw new InvalidArgumentError('states', `unknown dead letter state ${s}`);
          return state;
        });
        if (req.pageSize < 0 || req.pageSize > 500) {
          throw new InvalidArgumentError('page_size', 'must be between 0 and 500');
        }
        const limit = req.pageSize || 50;
        const page = await deadLetters.list({
          states: states.length > 0 ? states : ['PENDING'],
          consumer: req.consumer,
          beforeId: decodeDeadLetterPageToken(req.pageToken),
          limit,
        });
        return create(ListDeadLettersResponseSchema, {
          deadLetters: page.deadLetters.map(deadLetterToPb),
          nextPageToken:
            page.nextBeforeId === undefined ? '' : encodeDeadLetterPageToken(page.nextBeforeId),
        });
      }),

    getDeadLetter: (req) =>
      mapErrors(logger, async () =>
        create(GetDeadLetterResponseSchema, {
          deadLetter: deadLetterToPb(await deadLetters.get(deadLetterIdFromPb(req.id))),
        }),
      ),

    replayDeadLetter: (req) =>
      mapErrors(logger, async () => {
        const { deadLetter, messageId } = await deadLetters.replay(deadLetterIdFromPb(req.id));
        return create(ReplayDeadLetterResponseSchema, {
          deadLetter: deadLetterToPb(deadLetter),
          messageId,
        });
      }),

    discardDeadLetter: (req) =>
      mapErrors(logger, async () => {
        const id = deadLetterIdFromPb(req.id);
        if (req.reason.length > MAX_REASON_LENGTH) {
          throw new InvalidArgumentError(
            'reason',
            `must be at most ${MAX_REASON_LENGTH} characters`,
          );
        }
        return create(DiscardDeadLetterResponseSchema, {
          deadLetter: deadLetterToPb(await deadLetters.discard(id, req.reason)),
        });
      }),
  };
}
