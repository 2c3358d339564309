// An in-process control plane for API tests driven by hand: a fresh PostgreSQL database, the real
// server started in this process (no worker is ever provisioned: the worker command is `false`),
// its log lines kept for assertions, and everything dropped afterwards.
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { createTestDatabase, type TestDatabase } from './db.js';
import { NATS_URL, deleteStream } from './env.js';
import { loadServerConfig, type ServerConfig } from '../../src/config/config.js';
import { startServer } from '../../src/server/start-server.js';
import type { RunningServer } from '../../src/server/running-server.js';
import type { Db } from '../../src/db/db.js';
import { createAgentConnection, type AgentConnection } from '../../src/agent/agent-connection.js';
import type { ServerMessage } from '../../src/gen/hodei/v1/worker_pb.js';
import { insertWorker } from '../../src/workers/worker-sql.js';
import { hashOtp, newOtp } from '../../src/workers/otp.js';
import { newId } from '../../src/shared/ids.js';
import { waitFor } from './procs.js';

export interface InProcessServer {
  t: TestDatabase;
  server: RunningServer;
  /** Log lines at `logLevel` and above, as JSON text. */
  logLines: string[];
  stop: () => Promise<void>;
}

export async function startInProcessServer(options: {
  /** JetStream (a stream of its own, deleted afterwards) or the PostgreSQL-table bus. */
  bus: 'jetstream' | 'tables';
  env?: Record<string, string>;
  overrides?: Partial<ServerConfig>;
  logLevel?: string;
}): Promise<InProcessServer> {
  const suffix = randomBytes(4).toString('hex');
  const streamName = `TAPI_${suffix}`;
  const t = await createTestDatabase();
  const config = loadServerConfig(
    { HODEI_LISTEN: '127.0.0.1:0', ...options.env },
    {
      databaseUrl: t.url,
      natsUrl: options.bus === 'jetstream' ? NATS_URL : undefined,
      streamName,
      subjectPrefix: `tapi${suffix}.events`,
      consumerName: `tapi-${suffix}`,
      maxWorkers: 1,
      workerCommand: ['false'],
      // A key of its own, so no key file is made in the working directory.
      secretsKey: randomBytes(32).toString('base64'),
      ...options.overrides,
    },
  );
  const logLines: string[] = [];
  const logger = pino(
    { level: options.logLevel ?? 'warn' },
    { write: (line: string) => void logLines.push(line) },
  );
  const server = await startServer(config, { logger, mode: 'server' });
  return {
    t,
    server,
    logLines,
    stop: async () => {
      await server.stop();
      await t.drop();
      if (options.bus === 'jetstream') await deleteStream(streamName);
    },
  };
}

export interface HandDrivenWorker {
  workerId: string;
  connection: AgentConnection;
  sessionToken: string;
  /** The next message the server sent down the stream. */
  next: () => Promise<ServerMessage>;
}

/** A worker row with a known OTP, registered with it, its stream open: driven by the test. */
export async function handDrivenWorker(db: Db, serverUrl: string): Promise<HandDrivenWorker> {
  const workerId = newId();
  const otp = newOtp();
  await insertWorker(db, {
    id: workerId,
    provider: 'process',
    otpHash: hashOtp(otp),
    correlationId: 'hand',
  });
  const connection = createAgentConnection(serverUrl);
  const { sessionToken } = await connection.register({ workerId, otp, pid: process.pid });
  const received: ServerMessage[] = [];
  void (async () => {
    for await (const message of connection.open(sessionToken)) received.push(message);
  })().catch(() => undefined);
  return {
    workerId,
    connection,
    sessionToken,
    next: () => waitFor('a message from the server', async () => received.shift()),
  };
}
