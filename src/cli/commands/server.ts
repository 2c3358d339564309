// `hodei server` (PostgreSQL and NATS from the environment) and `hodei dev` (everything in one
// process on the embedded database). SIGINT/SIGTERM stop the server cleanly; a second one exits
// at once.
import type { Command } from 'commander';
import type { ServerConfig } from '../../config/config.js';
import type { RunningServer } from '../../server/running-server.js';
import { CliError, usageError } from '../cli-error.js';
import { DEFAULT_URL } from '../context.js';
import { say, write } from '../output.js';

type Mode = 'server' | 'dev';

interface DevFlags {
  dataDir?: string;
  port?: string;
  auth?: string;
  insecure?: boolean;
  tlsCert?: string;
  tlsKey?: string;
}

function authOptions(command: Command): Command {
  return command
    .option('--auth <mode>', 'token: every call needs an API token; off (default on loopback)')
    .option('--insecure', 'allow --auth off on an address other machines can reach')
    .option('--tls-cert <file>', 'serve TLS with this PEM certificate (chain) (HODEI_TLS_CERT)')
    .option('--tls-key <file>', 'the PEM private key of --tls-cert (HODEI_TLS_KEY)');
}

export function registerServer(program: Command): void {
  authOptions(
    program
      .command('server')
      .description('run the control plane (HODEI_DATABASE_URL, HODEI_NATS_URL, HODEI_LISTEN, …)'),
  ).action((flags: DevFlags) => serve('server', flags));

  authOptions(program.command('dev'))
    .description(
      'run the whole platform in one process on an embedded database: nothing to install',
    )
    .option('--data-dir <dir>', 'where the embedded database keeps its files (default .hodei)')
    .option('--port <n>', 'port to listen on, 0 for any free one (default 50051)')
    .action((flags: DevFlags) => serve('dev', flags));
}

async function loadConfig(mode: Mode, flags: DevFlags): Promise<ServerConfig> {
  const [{ loadServerConfig }, { parseCount }, { HodeiError }] = await Promise.all([
    import('../../config/config.js'),
    import('../parse.js'),
    import('../../shared/errors.js'),
  ]);
  const port = parseCount('--port', flags.port, { min: 0, max: 65535 });
  if (flags.dataDir?.trim() === '') throw usageError('--data-dir must not be empty');
  if (flags.auth !== undefined && flags.auth !== 'token' && flags.auth !== 'off') {
    throw usageError(`--auth must be token or off, got "${flags.auth}"`);
  }
  // The flags win over the environment; the config module applies the rules to both.
  const env = {
    ...process.env,
    ...(flags.auth === undefined ? {} : { HODEI_AUTH: flags.auth }),
    ...(flags.insecure ? { HODEI_INSECURE: '1' } : {}),
    ...(flags.tlsCert === undefined ? {} : { HODEI_TLS_CERT: flags.tlsCert }),
    ...(flags.tlsKey === undefined ? {} : { HODEI_TLS_KEY: flags.tlsKey }),
  };
  try {
    if (mode === 'server') return loadServerConfig(env);
    // Embedded PGlite and the PostgreSQL-table bus, whatever the environment says.
    return loadServerConfig(env, {
      databaseUrl: undefined,
      natsUrl: undefined,
      ...(flags.dataDir === undefined ? {} : { dataDir: flags.dataDir }),
      ...(port === undefined ? {} : { port }),
    });
  } catch (error) {
    if (error instanceof HodeiError) throw usageError(error.message);
    throw error;
  }
}

async function serve(mode: Mode, flags: DevFlags): Promise<void> {
  const shutdown = stopOnSignals((error) =>
    say(`stopping failed: ${error instanceof Error ? error.message : String(error)}`),
  );
  const config = await loadConfig(mode, flags);
  const [{ createLogger }, { errorMessage, HodeiError }] = await Promise.all([
    import('../../shared/logger.js'),
    import('../../shared/errors.js'),
  ]);
  const logger = createLogger({
    level: config.logLevel,
    format: config.logFormat ?? (process.stderr.isTTY ? 'console' : 'json'),
  });
  const [{ startServer }, { startTracing }] = await Promise.all([
    import('../../server/start-server.js'),
    import('../../telemetry/setup.js'),
  ]);
  // Spans for every job when an OTLP endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT).
  const telemetry = startTracing('hodei-server');
  shutdown.afterStop(() => telemetry.shutdown());
  let server: RunningServer;
  try {
    server = await startServer(config, { logger, mode });
  } catch (error) {
    // Our own errors are sentences for the user already (DATA_DIR_LOCKED names the directory
    // and the process holding it); anything else gets context.
    if (error instanceof HodeiError) throw new CliError(error.message);
    throw new CliError(`the server could not start: ${errorMessage(error)}`);
  }
  if (shutdown.attach(server)) return; // a signal came while it was starting: it is stopping
  const { url, adapters, auth } = server;
  write(
    'stderr',
    `hodei ${mode} listening on ${url} (database: ${adapters.database}, bus: ${adapters.bus}, ${config.tls ? `tls: ${config.tls.certFile}` : 'tls: off'}, auth: ${auth.mode === 'token' ? 'API tokens required' : 'off'})\n`,
  );
  if (auth.mode === 'token' && auth.liveTokens === 0) {
    write(
      'stderr',
      `No API token exists yet: make the first with "hodei token create --name admin --scope admin" run with this server's ${mode === 'server' ? 'HODEI_DATABASE_URL' : '--data-dir (while the server is stopped)'}\n`,
    );
  }
  if (mode === 'dev') {
    const ca = config.tls?.workerCaFile ? `--ca ${config.tls.workerCaFile} ` : '';
    const target = `${url === DEFAULT_URL ? '' : `--url ${url} `}${ca}`;
    write(
      'stderr',
      `Try: npx hodei ${target}run -- echo hello   (data in ${config.dataDir}; Ctrl-C stops)\n`,
    );
  }
}

const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

/** Stops the server on SIGINT/SIGTERM (also one that came while it was starting). */
function stopOnSignals(onStopError: (error: unknown) => void): {
  /** Hands over the started server; true when a signal already asked it to stop. */
  attach(server: RunningServer): boolean;
  /** Runs after the server stopped, before the process exits (spans still buffered). */
  afterStop(last: () => Promise<void>): void;
} {
  let server: RunningServer | undefined;
  let stopping = false;
  let last: () => Promise<void> = () => Promise.resolve();
  const stop = () =>
    server
      ?.stop()
      .then(() => last().catch(() => undefined))
      .then(
        () => process.exit(0),
        (error: unknown) => {
          onStopError(error);
          process.exit(1);
        },
      );
  const onSignal = (signal: keyof typeof SIGNAL_EXIT) => {
    if (stopping) process.exit(SIGNAL_EXIT[signal]);
    stopping = true;
    say(`${signal}: stopping (send it again to exit at once)`);
    void stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    attach(started) {
      server = started;
      if (stopping) void stop();
      return stopping;
    },
    afterStop(next) {
      last = next;
    },
  };
}
