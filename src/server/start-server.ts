// The composition root: builds every component from the configuration, starts them in order and
// stops them in reverse order.
import { fileURLToPath } from 'node:url';
import { secretsKeyFileOf, type ServerConfig } from '../config/config.js';
import type { Logger } from '../shared/logger.js';
import { systemClock } from '../shared/clock.js';
import { migrate } from '../db/migrate.js';
import { createMetrics, finishedJobLabels } from '../metrics/metrics.js';
import { createOutboxWriter } from '../outbox/outbox-writer.js';
import { createRelay } from '../outbox/relay.js';
import { RELAY_DEAD_LETTER_CONSUMER } from '../deadletter/replay-message.js';
import { countUnpublished, oldestUnpublishedAgeSeconds } from '../outbox/outbox-sql.js';
import { consumeEvents } from '../events/consume-events.js';
import { createJobWatch } from '../jobs/job-watch.js';
import { createJobCommands } from '../jobs/job-commands.js';
import { countJobsByState } from '../jobs/job-sql.js';
import { createWorkerSessions } from '../workers/worker-sessions.js';
import { createWorkerMonitor } from '../workers/worker-monitor.js';
import { createWorkerLiveness } from '../workers/worker-liveness.js';
import { createWorkerReports } from '../workers/worker-reports.js';
import { createWorkerRegistration } from '../workers/worker-registration.js';
import { countWorkersByState, listLiveWorkers } from '../workers/worker-sql.js';
import { countFailedEvents } from '../deadletter/failed-events-sql.js';
import { createDeadLetters } from '../deadletter/dead-letters.js';
import { createSagaEngine } from '../sagas/saga-engine.js';
import { RECORD_ONLY_EVENTS, createSagaProcessor } from '../sagas/saga-processor.js';
import { createLocalDelivery } from '../events/local-delivery.js';
import { subjectFor, type EventType } from '../events/catalog.js';
import { executionSaga } from '../sagas/execution-saga.js';
import { provisioningSaga } from '../sagas/provisioning-saga.js';
import { recoverySaga } from '../sagas/recovery-saga.js';
import type { SagaDeps } from '../sagas/saga-deps.js';
import { createProcessProvider } from '../providers/process/process-provider.js';
import { ensureInstallationId } from '../safety/installation-sql.js';
import { createDatabaseReaper } from '../safety/database-reaper.js';
import { createInfrastructureReconciler } from '../safety/infrastructure-reconciler.js';
import { createRetention } from '../safety/retention.js';
import { newId } from '../shared/ids.js';
import { startHttpServer } from '../api/http-server.js';
import { JobService } from '../gen/hodei/v1/job_pb.js';
import { WorkerAgentService } from '../gen/hodei/v1/worker_pb.js';
import { OpsService } from '../gen/hodei/v1/ops_pb.js';
import { jobServiceImpl } from '../api/job-service.js';
import { opsServiceImpl } from '../api/ops-service.js';
import { workerAgentServiceImpl } from '../api/worker-agent-service.js';
import { createSessionTokens } from '../api/session-token.js';
import { authenticate, authInterceptor } from '../api/auth-interceptor.js';
import { createApiTokens } from '../auth/api-tokens.js';
import { createSecretBox } from '../secrets/secret-box.js';
import { loadSecretsKey } from '../secrets/secrets-key-file.js';
import { errorMessage } from '../shared/errors.js';
import { openBus, openDatabase } from './adapters.js';
import { unreadyReasons } from './readiness.js';
import { certificateWarnings, serverAddress } from './server-address.js';
import type { RunningServer } from './running-server.js';

const HODEI_BIN = fileURLToPath(new URL('../../bin/hodei.js', import.meta.url));

/** The events handled in the process that committed them as well as from the bus: those that
 * start or wake the saga a job is waiting on. */
const LOCAL_EVENT_TYPES = new Set<EventType>([
  'JobQueued',
  'WorkerProvisioningRequested',
  'WorkerReady',
  'JobStarted',
  'JobSucceeded',
]);

export async function startServer(
  config: ServerConfig,
  options: { logger: Logger; mode: 'server' | 'dev' },
): Promise<RunningServer> {
  const { logger } = options;
  const stops: Array<{ name: string; stop: () => Promise<void> }> = [];
  const onStop = (name: string, stop: () => Promise<void>) => stops.unshift({ name, stop });
  async function stopAll(): Promise<void> {
    for (const { name, stop } of stops.splice(0)) {
      await stop().catch((error: unknown) =>
        logger.warn({ component: name, error: errorMessage(error) }, 'stop failed'),
      );
    }
  }

  try {
    const db = await openDatabase(config, logger);
    onStop('database', () => db.close());
    const applied = await migrate(db);
    if (applied.length > 0) logger.info({ migrations: applied }, 'database migrated');

    const bus = await openBus(config, db, logger);
    onStop('bus', () => bus.close());
    await bus.setup();

    const secretsKey = await loadSecretsKey({
      keyText: config.secretsKey,
      keyFile: secretsKeyFileOf(config),
    });
    const secretBox = createSecretBox(secretsKey.key);
    logger.info(
      { source: secretsKey.source, keyId: secretBox.keyId },
      secretsKey.created ? 'secrets key created' : 'secrets key loaded',
    );
    if (secretsKey.readableByOthers) {
      logger.warn(
        { source: secretsKey.source },
        'the secrets key file can be read by other users: chmod 600 it',
      );
    }

    const metrics = createMetrics();
    metrics.bindSources({
      jobsByState: () => countJobsByState(db),
      workersByState: () => countWorkersByState(db),
      outboxPending: () => countUnpublished(db),
      outboxOldestAgeSeconds: () => oldestUnpublishedAgeSeconds(db),
      consumerLags: async () => [
        { consumer: config.consumerName, lag: await bus.consumerLag(config.consumerName) },
      ],
      failedEvents: () => countFailedEvents(db),
      ready: async () => (await unreadyReasons(db, bus)).length === 0,
    });
    // Events this process commits are handled here at once; their bus delivery then finds them
    // handled (events/local-delivery.ts): a job's saga starts, and a freed worker's next job is
    // found, one bus round trip sooner.
    const local = createLocalDelivery({
      types: LOCAL_EVENT_TYPES,
      logger: logger.child({ component: 'local-delivery' }),
    });
    const outbox = createOutboxWriter({
      subjectPrefix: config.subjectPrefix,
      committed: { db, events: (events) => local.committed(events) },
    });
    const sessions = createWorkerSessions();
    const jobWatch = createJobWatch();
    const provider = createProcessProvider({
      command: config.workerCommand
        ? [...config.workerCommand]
        : [process.execPath, HODEI_BIN, 'worker'],
      logger: logger.child({ component: 'process-provider' }),
      maxWorkers: config.maxWorkers,
      installationId: await ensureInstallationId(db),
      // Over TLS the workers verify this server with the CA bundle it names for them.
      env: config.tls?.workerCaFile ? { HODEI_CA: config.tls.workerCaFile } : undefined,
    });
    onStop('provider', () => provider.close());

    let serving = true;
    let serverUrl = '';
    const liveness = createWorkerLiveness(systemClock);
    // This server process's id, recorded on the workers whose stream it holds: a worker lost
    // with another, gone, server is not charged to its job's attempts.
    const serverInstance = newId();
    const monitor = createWorkerMonitor({
      db,
      serverInstance,
      outbox,
      provider,
      liveness,
      logger: logger.child({ component: 'worker-monitor' }),
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      missedHeartbeats: config.missedHeartbeats,
      idleTtlMs: config.workerIdleTtlMs,
      metrics,
    });
    const sagaDeps: SagaDeps = {
      db,
      outbox,
      provider,
      sessions,
      secretBox,
      logger: logger.child({ component: 'saga' }),
      serverUrl: () => serverUrl,
      serverInstance,
      settings: {
        maxWorkers: config.maxWorkers,
        provisioningTimeoutMs: config.provisioningTimeoutMs,
        workerOtpTtlMs: config.workerOtpTtlMs,
        dispatchAckTimeoutMs: config.dispatchAckTimeoutMs,
        workerWaitMs: Math.max(1000, Math.min(config.provisioningTimeoutMs, 5000)),
      },
    };
    const engine = createSagaEngine({
      db,
      outbox,
      logger: logger.child({ component: 'saga-engine' }),
      clock: systemClock,
      metrics,
      definitions: [executionSaga(sagaDeps), provisioningSaga(sagaDeps), recoverySaga(sagaDeps)],
      sweepIntervalMs: config.sagaSweepIntervalMs,
    });
    const reports = createWorkerReports({ db, outbox, logger, jobWatch, metrics, serverInstance });
    const commands = createJobCommands({ db, outbox, secretBox, metrics });
    const apiTokens = createApiTokens({ db, clock: systemClock });
    const authOn = config.auth === 'token';

    const http = await startHttpServer({
      host: config.host,
      port: config.port,
      tls: config.tls && { cert: config.tls.cert, key: config.tls.key },
      registry: metrics.registry,
      readMaxBytes: config.maxMessageBytes,
      interceptors: authOn ? [authInterceptor(apiTokens)] : [],
      // Any live token may read the metrics when a setting asks for it.
      authorizeMetrics:
        authOn && config.metricsAuth
          ? async (header) => {
              await authenticate(apiTokens, header);
            }
          : undefined,
      logger: logger.child({ component: 'api' }),
      unready: () => unreadyReasons(db, bus),
      routes: (router) => {
        router.service(
          JobService,
          jobServiceImpl({ db, commands, jobWatch, logger, knownProviders: [provider.name] }),
        );
        router.service(
          WorkerAgentService,
          workerAgentServiceImpl({
            db,
            reports,
            registration: createWorkerRegistration({
              db,
              logger: logger.child({ component: 'worker-registration' }),
              monitor,
              maxAttempts: config.workerRegisterAttempts,
              refusalDelayMs: config.workerRefusalDelayMs,
            }),
            sessions,
            monitor,
            liveness,
            metrics,
            maxJobOutputBytes: config.maxJobOutputBytes,
            tokens: createSessionTokens({ ttlMs: config.workerOtpTtlMs }),
            logger: logger.child({ component: 'worker-agent' }),
            heartbeatIntervalMs: config.heartbeatIntervalMs,
            isServing: () => serving,
          }),
        );
        const deadLetters = createDeadLetters({
          db,
          bus,
          logger: logger.child({ component: 'dead-letters' }),
        });
        router.service(OpsService, opsServiceImpl({ db, deadLetters, apiTokens, logger }));
      },
    });
    serverUrl = serverAddress(config, http.port);
    for (const warning of certificateWarnings(config)) {
      logger.warn({ certFile: config.tls?.certFile }, `${warning}: workers will refuse it`);
    }
    onStop('api', async () => {
      serving = false;
      sessions.closeAll('server shutting down');
      await http.close();
    });

    // The safety nets' first rounds run before any event is consumed: after a crash, the slots
    // of workers that will never register are free before the first saga asks for a worker.
    const reaper = createDatabaseReaper({
      db,
      outbox,
      provider,
      monitor,
      logger: logger.child({ component: 'database-reaper' }),
      metrics,
      intervalMs: config.reaperIntervalMs,
      jobSilenceMs: config.reaperJobSilenceMs,
      creatingTimeoutMs: config.reaperCreatingTimeoutMs,
    });
    await reaper.start();
    onStop('database-reaper', () => reaper.stop());
    const reconciler = createInfrastructureReconciler({
      db,
      provider,
      monitor,
      logger: logger.child({ component: 'infrastructure-reconciler' }),
      metrics,
      intervalMs: config.reconcileIntervalMs,
    });
    await reconciler.start();
    onStop('infrastructure-reconciler', () => reconciler.stop());
    // Retention's first round may have days of rows to delete: it runs beside the start-up, not
    // before it (start never throws; a failed round is logged and tried again next interval).
    const retention = createRetention({
      db,
      logger: logger.child({ component: 'retention' }),
      metrics,
      intervalMs: config.retentionIntervalMs,
      eventsMs: config.retentionEventsMs,
      jobOutputMs: config.retentionJobOutputMs,
      tableBus: bus.kind !== 'jetstream',
    });
    const retentionStarted = retention.start();
    onStop('retention', async () => {
      await retentionStarted;
      await retention.stop();
    });

    const processor = createSagaProcessor({ engine, sessions, jobWatch });
    const consumer = await consumeEvents(
      {
        bus,
        db,
        logger: logger.child({ component: 'saga-processor' }),
        metrics,
        durable: config.consumerName,
        filterSubject: `${config.subjectPrefix}.>`,
        // Two of a job's seven events (its saga's start and end) are of record only: the table
        // bus does not deliver them to the processor (decision 0025).
        ignoredSubjects: RECORD_ONLY_EVENTS.map((type) => subjectFor(config.subjectPrefix, type)),
        ackWaitMs: config.ackWaitMs,
        maxDeliver: config.maxDeliver,
        concurrency: 32,
      },
      local.fromBus(processor),
    );
    onStop('saga-processor', () => consumer.stop());
    onStop('saga-engine', () => engine.stop());
    local.attach(processor);
    onStop('local-delivery', () => local.stop());

    const relay = createRelay({
      db,
      bus,
      logger: logger.child({ component: 'relay' }),
      fallbackPollMs: config.relayFallbackPollMs,
      maxAttempts: config.relayMaxAttempts,
      onPublished: (n) => metrics.eventsPublished.inc(n),
      onDeadLettered: (n) => metrics.deadLetters.inc({ consumer: RELAY_DEAD_LETTER_CONSUMER }, n),
      onEventsPublished: (events) => {
        for (const e of events) {
          const labels = finishedJobLabels(e.event_type, e.payload);
          if (labels) metrics.jobsFinished.inc(labels);
        }
      },
    });
    await relay.start();
    onStop('relay', () => relay.stop());

    const resumed = await engine.resumeAll();
    if (resumed > 0) logger.info({ sagas: resumed }, 'resuming sagas left in progress');
    engine.startLoops();
    monitor.start();
    onStop('worker-monitor', async () => {
      await monitor.stop();
      // Workers of this server end with it; their jobs are requeued by the RecoverySaga.
      for (const worker of await listLiveWorkers(db)) {
        await monitor.workerLost(worker.id, 'server shutting down');
      }
      await relay.drain().catch(() => 0);
    });

    const liveTokens = (await apiTokens.list()).filter((t) => t.revokedAt === null).length;
    logger.info(
      {
        url: serverUrl,
        mode: options.mode,
        database: db.kind,
        bus: bus.kind,
        auth: config.auth,
        liveTokens,
        tls: config.tls ? { cert: config.tls.certFile, workerCa: config.tls.workerCaFile } : false,
      },
      'hodei control plane started',
    );
    return {
      url: serverUrl,
      port: http.port,
      adapters: { database: db.kind, bus: bus.kind },
      auth: { mode: config.auth, liveTokens },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
