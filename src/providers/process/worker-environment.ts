// The environment a worker process starts with: a small documented base, never the server's own
// (the server holds HODEI_DATABASE_URL and whatever else its operator set; a worker runs jobs,
// which are untrusted relative to the control plane, DESIGN §11). The one-time password is not
// here: it goes down the worker's stdin (process-provider.ts).
import type { WorkerLaunchSpec } from '../provider.js';
import { WORKER_ID_VARIABLE } from '../../shared/reaper-env.js';
import { traceparentFor } from '../../telemetry/tracing.js';

/**
 * Taken from the server's environment when set: what a process needs to find programs, a home,
 * its locale and time zone, and the agent's own log settings. NODE_OPTIONS is deliberately not
 * passed: it is the server's (an `--inspect` there would make every worker fight for the
 * debugger's port, a `--require` would load the server's hooks); put Node flags for workers in
 * HODEI_WORKER_COMMAND instead.
 */
export const INHERITED_VARIABLES = [
  'PATH',
  'HOME',
  'LANG',
  'LC_ALL',
  'LC_CTYPE',
  'TZ',
  'HODEI_LOG_LEVEL',
  'HODEI_LOG_FORMAT',
] as const;

/** The installation the worker belongs to (src/safety/installation-sql.ts): the safety nets
 * destroy only their own installation's workers, never another's on the same machine. */
export const INSTALLATION_VARIABLE = 'HODEI_INSTALLATION_ID';

/** The pid of the server process that started the worker: a worker whose parent is no longer
 * that process was left behind by a server that died (WorkerInfrastructure.orphaned). */
export const SERVER_PID_VARIABLE = 'HODEI_SERVER_PID';

/** PATH when the server has none. */
const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin';

export function workerEnvironment(
  parent: Readonly<Record<string, string | undefined>>,
  spec: WorkerLaunchSpec,
  extra: Readonly<Record<string, string>> = {},
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of INHERITED_VARIABLES) {
    const value = parent[name];
    if (value !== undefined) env[name] = value;
  }
  env.PATH ??= DEFAULT_PATH;
  return {
    ...env,
    ...extra,
    HODEI_URL: spec.serverUrl,
    [WORKER_ID_VARIABLE]: spec.workerId,
    HODEI_CORRELATION_ID: spec.correlationId,
    // The span starting the worker (W3C's name for it in an environment): the worker sends it
    // back when it connects, so its stream opening joins the job's trace.
    TRACEPARENT: traceparentFor(spec.correlationId),
  };
}
