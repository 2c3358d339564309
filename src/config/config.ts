// Server configuration, read from the environment in one place, validated, frozen.
// Every variable and its default is documented in docs/operations.md.
import path from 'node:path';
import { ConfigError } from '../shared/errors.js';
import { parseDuration } from '../shared/duration.js';
import { DEFAULT_OTP_TTL_MS } from '../workers/otp.js';
import { parseSize } from '../shared/size.js';
import { subjectProblem } from '../bus/bus.js';
import { decodeSecretsKey } from '../secrets/secrets-key.js';
import { loadTlsSettings, type TlsSettings } from './tls-settings.js';

export interface ServerConfig {
  /** PostgreSQL connection string; undefined means the embedded PGlite database. */
  readonly databaseUrl: string | undefined;
  /** Statements prepared once per PostgreSQL connection (HODEI_DATABASE_PREPARE=off turns it off,
   * e.g. behind a pooler in transaction mode that cannot keep them). */
  readonly databasePrepare: boolean;
  /** NATS server; undefined means the PostgreSQL-table bus. */
  readonly natsUrl: string | undefined;
  /** Where the embedded database keeps its files. */
  readonly dataDir: string;
  readonly host: string;
  readonly port: number;
  readonly maxWorkers: number;
  readonly workerIdleTtlMs: number;
  readonly heartbeatIntervalMs: number;
  readonly missedHeartbeats: number;
  readonly provisioningTimeoutMs: number;
  /** How long a new worker's one-time password is valid. */
  readonly workerOtpTtlMs: number;
  /** Refused registrations a worker may have; the next terminates it. */
  readonly workerRegisterAttempts: number;
  /** How long every refused registration waits before it is answered (slows guessing). */
  readonly workerRefusalDelayMs: number;
  readonly dispatchAckTimeoutMs: number;
  readonly sagaSweepIntervalMs: number;
  readonly relayFallbackPollMs: number;
  /** Tries before the relay moves an event the bus refuses for good (too large, an invalid
   * subject) to failed_events. */
  readonly relayMaxAttempts: number;
  /** How often the DatabaseReaper runs (and once at start). */
  readonly reaperIntervalMs: number;
  /** A RUNNING job whose worker has been silent this long is recovered by the reaper. */
  readonly reaperJobSilenceMs: number;
  /** A CREATING worker older than this is terminated by the reaper (its slot freed). */
  readonly reaperCreatingTimeoutMs: number;
  /** How often the InfrastructureReconciler runs (and once at start). */
  readonly reconcileIntervalMs: number;
  /** How often the retention loop runs (and once at start); 0: only at start. */
  readonly retentionIntervalMs: number;
  /** Published events, table-bus messages and finished sagas older than this are deleted; 0:
   * kept forever. */
  readonly retentionEventsMs: number;
  /** Output of jobs finished longer ago than this is deleted; 0: kept forever. */
  readonly retentionJobOutputMs: number;
  /** JetStream stream limits: messages older than this are removed by the stream; 0: none. */
  readonly streamMaxAgeMs: number;
  /** JetStream stream limit: the oldest messages are removed past this size; 0: none. */
  readonly streamMaxBytes: number;
  readonly streamName: string;
  readonly subjectPrefix: string;
  readonly consumerName: string;
  readonly maxDeliver: number;
  readonly ackWaitMs: number;
  /** Most output bytes stored per job attempt; the rest is dropped with a marker line. */
  readonly maxJobOutputBytes: number;
  /** Largest request or stream message the server reads (Connect readMaxBytes). */
  readonly maxMessageBytes: number;
  readonly logLevel: string;
  /** json or console; undefined: console when stderr is a terminal, else json. */
  readonly logFormat: 'json' | 'console' | undefined;
  /** Command that starts a worker process; default: this package's own `hodei worker`. */
  readonly workerCommand: readonly string[] | undefined;
  /** API tokens required on every RPC but the worker's own ('token'), or not ('off'). */
  readonly auth: 'token' | 'off';
  /** /metrics requires an API token too (only with auth on). */
  readonly metricsAuth: boolean;
  /** HODEI_SECRETS_KEY as given (checked to be 32 bytes in hex or base64); undefined: the key
   * file holds the key. Never logged. */
  readonly secretsKey: string | undefined;
  /** HODEI_SECRETS_KEY_FILE; undefined: `<dataDir>/secrets.key` (secretsKeyFileOf). */
  readonly secretsKeyFile: string | undefined;
  /** TLS on the one port (HODEI_TLS_CERT, HODEI_TLS_KEY); undefined: cleartext. */
  readonly tls: TlsSettings | undefined;
}

type Env = Record<string, string | undefined>;

const DAY_MS = 86_400_000;

function intVar(env: Env, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new ConfigError(name, `expected an integer >= ${min}, got "${raw}"`);
  }
  return value;
}

function logFormatVar(env: Env): 'json' | 'console' | undefined {
  const raw = env.HODEI_LOG_FORMAT;
  if (raw === undefined || raw === '') return undefined;
  if (raw === 'json') return 'json';
  // "pretty" was the name of the readable format before the console one replaced it.
  if (raw === 'console' || raw === 'pretty') return 'console';
  throw new ConfigError('HODEI_LOG_FORMAT', `expected json or console, got "${raw.slice(0, 32)}"`);
}

function durationVar(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = parseDuration(raw);
  if (value === undefined) {
    throw new ConfigError(name, `expected a duration such as 500ms, 30s, 2m or 7d, got "${raw}"`);
  }
  return value;
}

function sizeVar(env: Env, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = parseSize(raw);
  if (value === undefined || value < min) {
    throw new ConfigError(
      name,
      `expected a size of at least ${min} bytes such as 64MiB or 512KiB, got "${raw}"`,
    );
  }
  return value;
}

/** The subject prefix: events go to `<prefix>.<aggregate>.<EventType>`, so the prefix must make
 * subjects the bus accepts (no whitespace, no wildcard, no empty token). */
function subjectPrefix(env: Env): string {
  const prefix = nonEmpty(env, 'HODEI_SUBJECT_PREFIX') ?? 'hodei.events';
  const problem = subjectProblem(`${prefix}.job.JobQueued`);
  if (problem) throw new ConfigError('HODEI_SUBJECT_PREFIX', `${problem}: "${prefix}"`);
  return prefix;
}

function metricsAuth(env: Env): boolean {
  const raw = (env.HODEI_METRICS_AUTH ?? '').trim();
  if (raw !== '' && raw !== 'token' && raw !== 'off') {
    throw new ConfigError('HODEI_METRICS_AUTH', `expected token or off, got "${raw}"`);
  }
  return raw === 'token';
}

function databasePrepare(env: Env): boolean {
  const raw = (env.HODEI_DATABASE_PREPARE ?? '').trim();
  if (raw !== '' && raw !== 'on' && raw !== 'off') {
    throw new ConfigError('HODEI_DATABASE_PREPARE', `expected on or off, got "${raw}"`);
  }
  return raw !== 'off';
}

function nonEmpty(env: Env, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw.trim() === '' ? undefined : raw.trim();
}

export function parseListen(text: string, variable: string): { host: string; port: number } {
  const match = /^(.*):(\d+)$/.exec(text);
  if (!match) throw new ConfigError(variable, `expected host:port, got "${text}"`);
  const port = Number(match[2]);
  if (port > 65535) throw new ConfigError(variable, `port out of range in "${text}"`);
  return { host: match[1] || '127.0.0.1', port };
}

/** True for an address only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

function flag(env: Env, name: string): boolean {
  const raw = (env[name] ?? '').trim().toLowerCase();
  if (raw === '' || raw === '0' || raw === 'false' || raw === 'no') return false;
  if (raw === '1' || raw === 'true' || raw === 'yes') return true;
  throw new ConfigError(name, `expected 1 or 0 (true or false), got "${env[name]}"`);
}

/** Auth is on when asked for, and always on an address others can reach unless HODEI_INSECURE
 * (hodei server --insecure) says to run without it there. */
function authMode(env: Env, host: string): 'token' | 'off' {
  const raw = (env.HODEI_AUTH ?? '').trim();
  if (raw !== '' && raw !== 'token' && raw !== 'off') {
    throw new ConfigError('HODEI_AUTH', `expected token or off, got "${raw}"`);
  }
  const insecure = flag(env, 'HODEI_INSECURE');
  if (isLoopback(host)) return raw === 'token' ? 'token' : 'off';
  if (raw === 'off' && !insecure) {
    throw new ConfigError(
      'HODEI_AUTH',
      `the server listens on ${host}, which other machines can reach: auth may be off there only with --insecure (HODEI_INSECURE=1)`,
    );
  }
  return raw === 'token' || !insecure ? 'token' : 'off';
}

/** HODEI_SECRETS_KEY when set, refused now (not at the first job with secrets) when it is not a
 * 32-byte key. */
function secretsKey(env: Env): string | undefined {
  const text = nonEmpty(env, 'HODEI_SECRETS_KEY');
  if (text !== undefined) decodeSecretsKey(text, 'HODEI_SECRETS_KEY');
  return text;
}

/** The key file the server reads (or makes) when HODEI_SECRETS_KEY is not set. */
export function secretsKeyFileOf(config: Pick<ServerConfig, 'secretsKeyFile' | 'dataDir'>): string {
  return config.secretsKeyFile ?? path.join(config.dataDir, 'secrets.key');
}

export function loadServerConfig(
  env: Env = process.env,
  overrides: Partial<ServerConfig> = {},
): ServerConfig {
  const listen = parseListen(env.HODEI_LISTEN ?? '127.0.0.1:50051', 'HODEI_LISTEN');
  const workerCommand = nonEmpty(env, 'HODEI_WORKER_COMMAND');
  const config: ServerConfig = {
    databaseUrl: nonEmpty(env, 'HODEI_DATABASE_URL'),
    databasePrepare: databasePrepare(env),
    natsUrl: nonEmpty(env, 'HODEI_NATS_URL'),
    dataDir: nonEmpty(env, 'HODEI_DATA_DIR') ?? '.hodei',
    host: listen.host,
    port: listen.port,
    maxWorkers: intVar(env, 'HODEI_MAX_WORKERS', 4, 1),
    workerIdleTtlMs: durationVar(env, 'HODEI_WORKER_IDLE_TTL', 30_000),
    heartbeatIntervalMs: durationVar(env, 'HODEI_HEARTBEAT_INTERVAL', 2_000),
    missedHeartbeats: intVar(env, 'HODEI_MISSED_HEARTBEATS', 3, 1),
    provisioningTimeoutMs: durationVar(env, 'HODEI_PROVISIONING_TIMEOUT', 30_000),
    workerOtpTtlMs: durationVar(env, 'HODEI_WORKER_OTP_TTL', DEFAULT_OTP_TTL_MS),
    workerRegisterAttempts: intVar(env, 'HODEI_WORKER_REGISTER_ATTEMPTS', 3, 1),
    workerRefusalDelayMs: durationVar(env, 'HODEI_WORKER_REFUSAL_DELAY', 1_000),
    dispatchAckTimeoutMs: durationVar(env, 'HODEI_DISPATCH_ACK_TIMEOUT', 10_000),
    sagaSweepIntervalMs: durationVar(env, 'HODEI_SAGA_SWEEP_INTERVAL', 1_000),
    relayFallbackPollMs: durationVar(env, 'HODEI_RELAY_FALLBACK_POLL', 2_000),
    relayMaxAttempts: intVar(env, 'HODEI_RELAY_MAX_ATTEMPTS', 3, 1),
    reaperIntervalMs: durationVar(env, 'HODEI_REAPER_INTERVAL', 60_000),
    reaperJobSilenceMs: durationVar(env, 'HODEI_REAPER_JOB_SILENCE', 90_000),
    // Past the registration deadline, with room for the provider's own start-up time.
    reaperCreatingTimeoutMs: durationVar(
      env,
      'HODEI_CREATING_TIMEOUT',
      durationVar(env, 'HODEI_PROVISIONING_TIMEOUT', 30_000) + 30_000,
    ),
    reconcileIntervalMs: durationVar(env, 'HODEI_RECONCILE_INTERVAL', 300_000),
    retentionIntervalMs: durationVar(env, 'HODEI_RETENTION_INTERVAL', 60_000),
    retentionEventsMs: durationVar(env, 'HODEI_RETENTION_EVENTS', 7 * DAY_MS),
    retentionJobOutputMs: durationVar(env, 'HODEI_RETENTION_JOB_OUTPUT', 30 * DAY_MS),
    streamMaxAgeMs: durationVar(env, 'HODEI_STREAM_MAX_AGE', 7 * DAY_MS),
    streamMaxBytes: sizeVar(env, 'HODEI_STREAM_MAX_BYTES', 1024 * 1024 * 1024, 0),
    streamName: nonEmpty(env, 'HODEI_STREAM') ?? 'HODEI_EVENTS',
    subjectPrefix: subjectPrefix(env),
    consumerName: nonEmpty(env, 'HODEI_CONSUMER') ?? 'saga-processor',
    maxDeliver: intVar(env, 'HODEI_MAX_DELIVER', 3, 1),
    ackWaitMs: durationVar(env, 'HODEI_ACK_WAIT', 30_000),
    maxJobOutputBytes: sizeVar(env, 'HODEI_MAX_JOB_OUTPUT', 64 * 1024 * 1024, 0),
    // The agent sends output in messages of at most 256 KiB; a QueueJob is at most ~330 KiB.
    maxMessageBytes: sizeVar(env, 'HODEI_MAX_MESSAGE_BYTES', 4 * 1024 * 1024, 1024 * 1024),
    logLevel: nonEmpty(env, 'HODEI_LOG_LEVEL') ?? 'info',
    logFormat: logFormatVar(env),
    workerCommand: workerCommand ? workerCommand.split(/\s+/) : undefined,
    auth: authMode(env, listen.host),
    metricsAuth: metricsAuth(env),
    secretsKey: secretsKey(env),
    secretsKeyFile: nonEmpty(env, 'HODEI_SECRETS_KEY_FILE'),
    tls: loadTlsSettings(env),
    ...overrides,
  };
  return Object.freeze(config);
}
