// ProvisioningSaga (DESIGN §5.5): ValidateProviderCapacity → CreateInfrastructure →
// WaitForRegistration → PublishProvisioned. Compensation destroys what was created.
import { event } from '../events/catalog.js';
import { deriveId } from '../shared/ids.js';
import {
  countLiveWorkers,
  findWorker,
  insertWorker,
  lockWorkerCapacity,
  setWorkerExternalId,
  terminateWorker,
} from '../workers/worker-sql.js';
import { setWorkerOtp } from '../workers/worker-otp-sql.js';
import { DEFAULT_OTP_TTL_MS, hashOtp, newOtp } from '../workers/otp.js';
import { SagaStepFailure, type SagaDefinition, type SagaStep } from './saga.js';
import { workerRegisteredKey, type SagaDeps } from './saga-deps.js';

export interface ProvisioningContext extends Record<string, unknown> {
  requestId: string;
  provider: string;
  workerId?: string;
  externalId?: string;
}

function validateProviderCapacity(deps: SagaDeps): SagaStep<ProvisioningContext> {
  return {
    name: 'ValidateProviderCapacity',
    async execute({ context, correlationId }) {
      const workerId = deriveId(`worker-${context.requestId}`);
      const providerMax = (await deps.provider.capacity()).maxWorkers ?? Infinity;
      const max = Math.min(deps.settings.maxWorkers, providerMax);
      const reserved = await deps.db.transaction(async (tx) => {
        await lockWorkerCapacity(tx);
        if ((await findWorker(tx, workerId)) !== undefined) return true; // ran before a crash
        if ((await countLiveWorkers(tx)) >= max) return false;
        // The OTP is set by CreateInfrastructure; until then no password matches.
        return insertWorker(tx, {
          id: workerId,
          provider: deps.provider.name,
          otpHash: '!',
          correlationId,
        });
      });
      if (!reserved) return { kind: 'finish', output: { skipped: `at capacity (${max} workers)` } };
      return { kind: 'next', context: { workerId }, output: { workerId } };
    },
    async compensate({ context, correlationId }) {
      const workerId = context.workerId;
      if (!workerId) return;
      await deps.db.transaction(async (tx) => {
        if (await terminateWorker(tx, workerId, 'provisioning failed')) {
          await deps.outbox.append(tx, [
            event('WorkerTerminated', workerId, correlationId, {
              workerId,
              reason: 'provisioning failed',
            }),
          ]);
        }
      });
    },
  };
}

function createInfrastructure(deps: SagaDeps): SagaStep<ProvisioningContext> {
  return {
    name: 'CreateInfrastructure',
    async execute({ context, correlationId }) {
      const workerId = context.workerId ?? '';
      const worker = await findWorker(deps.db, workerId);
      if (worker?.state !== 'CREATING') {
        throw new SagaStepFailure(
          'CreateInfrastructure',
          `worker ${workerId} is ${worker?.state ?? 'gone'}`,
        );
      }
      // Re-run after a crash: whatever the first run started is replaced, with a fresh OTP.
      if (worker.externalId) await deps.provider.destroy(worker.externalId);
      // The password and its expiry are set together; the worker must register before it.
      const otp = newOtp();
      await setWorkerOtp(
        deps.db,
        workerId,
        hashOtp(otp),
        deps.settings.workerOtpTtlMs ?? DEFAULT_OTP_TTL_MS,
      );
      let externalId: string;
      try {
        ({ externalId } = await deps.provider.create({
          workerId,
          otp,
          serverUrl: deps.serverUrl(),
          correlationId,
        }));
      } catch (error) {
        throw new SagaStepFailure('CreateInfrastructure', `provider ${deps.provider.name} failed`, {
          cause: error,
        });
      }
      await deps.db.transaction(async (tx) => {
        await setWorkerExternalId(tx, workerId, externalId);
        await deps.outbox.append(tx, [
          event('WorkerCreated', workerId, correlationId, {
            workerId,
            provider: deps.provider.name,
            externalId,
          }),
        ]);
      });
      return { kind: 'next', context: { externalId }, output: { externalId } };
    },
    async compensate({ context }) {
      const worker = await findWorker(deps.db, context.workerId ?? '');
      const externalId = worker?.externalId || context.externalId;
      if (externalId) await deps.provider.destroy(externalId);
    },
  };
}

function waitForRegistration(deps: SagaDeps): SagaStep<ProvisioningContext> {
  return {
    name: 'WaitForRegistration',
    async execute({ context, wake }) {
      const workerId = context.workerId ?? '';
      const worker = await findWorker(deps.db, workerId);
      if (worker && (worker.state === 'READY' || worker.state === 'BUSY')) return { kind: 'next' };
      if (!worker || worker.state === 'TERMINATED') {
        throw new SagaStepFailure(
          'WaitForRegistration',
          `worker ${workerId} ended before it registered`,
        );
      }
      if (wake === 'deadline') {
        throw new SagaStepFailure(
          'WaitForRegistration',
          `worker ${workerId} did not register within ${deps.settings.provisioningTimeoutMs} ms`,
        );
      }
      return {
        kind: 'wait',
        key: workerRegisteredKey(workerId),
        deadlineMs: deps.settings.provisioningTimeoutMs,
      };
    },
  };
}

function publishProvisioned(deps: SagaDeps): SagaStep<ProvisioningContext> {
  return {
    name: 'PublishProvisioned',
    async execute({ context, correlationId }) {
      const workerId = context.workerId ?? '';
      await deps.db.transaction((tx) =>
        deps.outbox.append(tx, [event('WorkerReady', workerId, correlationId, { workerId })]),
      );
      return { kind: 'next', output: { workerId } };
    },
  };
}

export function provisioningSaga(deps: SagaDeps): SagaDefinition<ProvisioningContext> {
  return {
    type: 'provisioning',
    steps: [
      validateProviderCapacity(deps),
      createInfrastructure(deps),
      waitForRegistration(deps),
      publishProvisioned(deps),
    ],
  };
}
