// `hodei server`, `hodei dev` and `hodei worker`: the long-running processes.
import type { Command } from 'commander';
import { CliError, err } from '../output.js';
import { parseIntFlag } from '../parse.js';

function onSignals(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = () => {
    if (stopping) process.exit(130);
    stopping = true;
    void stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

async function serve(
  mode: 'server' | 'dev',
  overrides: { dataDir?: string; port?: number },
): Promise<void> {
  const { loadServerConfig } = await import('../../config/config.js');
  const { HodeiError } = await import('../../shared/errors.js');
  const { createLogger } = await import('../../shared/logger.js');
  let config;
  try {
    const base = loadServerConfig(process.env);
    config = loadServerConfig(process.env, {
      ...(mode === 'dev' ? { databaseUrl: undefined, natsUrl: undefined } : {}),
      ...(overrides.dataDir ? { dataDir: overrides.dataDir } : {}),
      port: overrides.port ?? base.port,
    });
  } catch (error) {
    if (error instanceof HodeiError) throw new CliError(`hodei: ${error.message}`, 2);
    throw error;
  }
  const logger = createLogger({
    level: config.logLevel,
    pretty: config.logPretty || mode === 'dev',
  });
  const { startServer } = await import('../../server/start-server.js');
  let server;
  try {
    server = await startServer(config, { logger, mode });
  } catch (error) {
    if (error instanceof HodeiError) throw new CliError(`hodei: ${error.message}`);
    throw new CliError(
      `hodei: could not start: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  err(
    `hodei ${mode} listening on ${server.url} (database: ${server.adapters.database}, bus: ${server.adapters.bus})`,
  );
  if (mode === 'dev') err(`Data in ${config.dataDir}. Try: npx hodei run -- echo hello`);
  onSignals(() => server.stop());
}

export function registerServe(program: Command): void {
  program
    .command('server')
    .description(
      'run the control plane (PostgreSQL from HODEI_DATABASE_URL, NATS from HODEI_NATS_URL)',
    )
    .action(() => serve('server', {}));

  program
    .command('dev')
    .description('run everything in one process on the embedded database, nothing to install')
    .option('--data-dir <dir>', 'where the embedded database keeps its files', '.hodei')
    .option('--port <port>', 'port to listen on (default 50051)')
    .action((flags: { dataDir: string; port?: string }) =>
      serve('dev', { dataDir: flags.dataDir, port: parseIntFlag('--port', flags.port, 0) }),
    );

  program
    .command('worker')
    .description(
      'run a worker agent (started by a provider, with HODEI_WORKER_ID and HODEI_WORKER_OTP)',
    )
    .action(async () => {
      const serverUrl = process.env.HODEI_URL ?? 'http://127.0.0.1:50051';
      const workerId = process.env.HODEI_WORKER_ID;
      const otp = process.env.HODEI_WORKER_OTP;
      if (!workerId || !otp)
        throw new CliError('hodei worker needs HODEI_WORKER_ID and HODEI_WORKER_OTP', 2);
      const { createLogger } = await import('../../shared/logger.js');
      const { runAgent } = await import('../../agent/run-agent.js');
      const controller = new AbortController();
      process.on('SIGINT', () => controller.abort());
      process.on('SIGTERM', () => controller.abort());
      const code = await runAgent({
        serverUrl,
        workerId,
        otp,
        logger: createLogger({ level: process.env.HODEI_LOG_LEVEL ?? 'info' }),
        signal: controller.signal,
      });
      process.exit(code);
    });
}
