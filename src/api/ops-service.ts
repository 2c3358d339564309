// OpsService: what an operator asks of the control plane (workers now; traces and dead letters
// come with their issues).
import { create } from '@bufbuild/protobuf';
import type { ServiceImpl } from '@connectrpc/connect';
import type { OpsService } from '../gen/hodei/v1/worker_pb.js';
import { ListWorkersResponseSchema } from '../gen/hodei/v1/worker_pb.js';
import type { Db } from '../db/db.js';
import type { Logger } from '../shared/logger.js';
import { listWorkers } from '../workers/worker-sql.js';
import { workerToPb } from './convert.js';
import { mapErrors } from './error-mapping.js';

export function opsServiceImpl(deps: { db: Db; logger: Logger }): ServiceImpl<typeof OpsService> {
  return {
    listWorkers: () =>
      mapErrors(deps.logger, async () =>
        create(ListWorkersResponseSchema, {
          workers: (await listWorkers(deps.db, 200)).map(workerToPb),
        }),
      ),
  };
}
