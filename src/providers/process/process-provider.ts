// The process provider: each worker is a child process (`hodei worker`) started under a small
// per-worker reaper (reaper.ts), a child subreaper that leads a process group of its own. Every
// process a job orphans is reparented to the reaper, so destroy needs one SIGTERM to it: it kills
// the agent and everything below it, then exits. Where the reaper cannot run (no perl, not
// Linux) the worker is started directly and destroy kills its group and the descendants it sees.
// The worker gets a minimal environment (worker-environment.ts) and its one-time password on
// stdin, never in its environment or command line.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { Provider, WorkerExit, WorkerLaunchSpec } from '../provider.js';
import type { Logger } from '../../shared/logger.js';
import { ConfigError, HodeiError, errorMessage } from '../../shared/errors.js';
import { WORKER_ID_VARIABLE } from '../../shared/reaper-env.js';
import {
  commandLine,
  descendantsOf,
  environmentValue,
  isRunning,
  killGroup,
  killSurvivors,
  signalPid,
} from './process-tree.js';
import { findReaper, isReaperCommandLine, reaperArgv, type Reaper } from './reaper.js';
import {
  INSTALLATION_VARIABLE,
  SERVER_PID_VARIABLE,
  workerEnvironment,
} from './worker-environment.js';
import { findWorkerProcesses } from './inventory.js';

export interface ProcessProviderOptions {
  /** argv of the worker, e.g. [process.execPath, '/…/bin/hodei.js', 'worker']. */
  command: readonly string[];
  /** Added to the worker's minimal environment (worker-environment.ts). */
  env?: Record<string, string>;
  logger: Logger;
  maxWorkers?: number;
  /** false starts workers directly, without the reaper (tests of the fallback). Default true. */
  reaper?: boolean;
  /** Where the inherited variables come from; default process.env. */
  parentEnv?: Readonly<Record<string, string | undefined>>;
  /** The installation's id (src/safety/installation-sql.ts), written into every worker's
   * environment; inventory() lists that installation's workers, whoever started them. Without
   * it inventory() lists only this process's own children. */
  installationId?: string;
}

interface Child {
  child: ChildProcess;
  workerId: string;
  viaReaper: boolean;
  exited: Promise<void>;
}

/** How long destroy waits for a stopped worker to exit before it kills what is left itself. */
const REAP_WAIT_MS = 2000;
/** How often destroy looks whether a worker it did not start (a previous server's) is gone. */
const EXIT_POLL_MS = 20;

const PINO_LEVELS = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
} as const;

/**
 * One line of a worker's output into the server's log. The agent logs pino JSON: such a line is
 * relayed at its own level with its fields under `agent` (so an agent's error is an error here);
 * anything else is logged as text.
 */
export function relayLine(log: Logger, stream: 'stdout' | 'stderr', line: string): void {
  if (line.startsWith('{')) {
    try {
      const entry = JSON.parse(line) as { level?: number; msg?: unknown };
      const level = PINO_LEVELS[entry.level as keyof typeof PINO_LEVELS] ?? 'info';
      const { msg, ...fields } = entry;
      log[level]({ stream, agent: fields }, typeof msg === 'string' ? msg : 'worker output');
      return;
    } catch {
      // not JSON after all
    }
  }
  log.info({ stream, line }, 'worker output');
}

function pipeLines(stream: Readable | null, log: Logger, name: 'stdout' | 'stderr'): void {
  if (!stream) return;
  // Read continuously so the worker never blocks on a full pipe.
  createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) =>
    relayLine(log, name, line),
  );
}

/** Whether `promise` settled within `ms`. */
async function within(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = await Promise.race([
    promise.then(() => true),
    new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms))),
  ]);
  clearTimeout(timer);
  return settled;
}

/** Whether a process that is not our child (so no exit event) is gone within `ms`. */
async function goneWithin(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (await isRunning(pid)) {
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, EXIT_POLL_MS));
  }
  return true;
}

/** The reaper to start workers under, or undefined (with a warning) when there is none. */
function chooseReaper(options: ProcessProviderOptions): Reaper | undefined {
  if (options.reaper === false) return undefined;
  const found = findReaper(options.parentEnv?.PATH ?? process.env.PATH);
  if ('perl' in found) return found;
  options.logger.warn(
    { reason: found.unavailable },
    'workers start without their reaper: processes a job leaves behind (setsid, double fork) can outlive it',
  );
  return undefined;
}

export function createProcessProvider(options: ProcessProviderOptions): Provider {
  const { logger } = options;
  const [program, ...baseArgs] = options.command;
  if (!program) throw new ConfigError('worker command', 'must not be empty');
  const reaper = chooseReaper(options);
  const parentEnv = options.parentEnv ?? process.env;
  const children = new Map<string, Child>();
  const listeners = new Set<(exit: WorkerExit) => void>();
  let closed = false;

  function notifyExit(exit: WorkerExit): void {
    if (closed) return;
    for (const listener of listeners) {
      try {
        listener(exit);
      } catch (error) {
        logger.error({ error: errorMessage(error) }, 'an onExit listener failed');
      }
    }
  }

  /** Which worker a pid we did not start ourselves belongs to (a previous server's child). */
  async function workerIdOf(externalId: string): Promise<string | undefined> {
    const known = children.get(externalId);
    if (known) return known.workerId;
    // The reaper's environment (and the agent's) holds the worker id; a job's does not.
    return environmentValue(Number(externalId), WORKER_ID_VARIABLE);
  }

  async function create(spec: WorkerLaunchSpec): Promise<{ externalId: string }> {
    const [file, args] = reaper ? reaperArgv(reaper, options.command) : [program!, baseArgs];
    const child = spawn(file, args, {
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: {
        ...workerEnvironment(parentEnv, spec, options.env),
        // How the safety nets recognise this worker later, from this or a later server process.
        [SERVER_PID_VARIABLE]: String(process.pid),
        ...(options.installationId ? { [INSTALLATION_VARIABLE]: options.installationId } : {}),
      },
    });
    // The one-time password travels down a pipe only this worker holds, then the pipe closes.
    // A worker that dies before reading it makes the write fail with EPIPE: nothing to do then.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(`${spec.otp}\n`);
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid!));
      child.once('error', (error) =>
        reject(
          new HodeiError(
            'PROVIDER_FAILED',
            `cannot start worker ${program}: ${error.message}`,
            { workerId: spec.workerId },
            { cause: error },
          ),
        ),
      );
    });
    const externalId = String(pid);
    const log = logger.child({ workerId: spec.workerId, pid });
    pipeLines(child.stdout, log, 'stdout');
    pipeLines(child.stderr, log, 'stderr');
    const exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        children.delete(externalId);
        // Under the reaper, code is the agent's (128 + n when a signal ended it), and the
        // reaper has killed everything the worker's jobs left behind before it exited.
        log.info({ code, signal }, 'worker process exited');
        notifyExit({ externalId, code, signal });
        resolve();
      });
    });
    children.set(externalId, { child, workerId: spec.workerId, viaReaper: !!reaper, exited });
    log.info({ command: options.command, reaper: !!reaper }, 'worker process started');
    return { externalId };
  }

  async function destroy(externalId: string): Promise<void> {
    const pid = Number(externalId);
    if (!Number.isInteger(pid) || pid <= 1) return;
    const entry = children.get(externalId);
    const workerId = await workerIdOf(externalId);
    // A pid we neither started nor can tell is a worker may belong to anyone now: leave it.
    if (!entry && !workerId) return;
    const viaReaper = entry ? entry.viaReaper : isReaperCommandLine(await commandLine(pid));
    // What runs below the worker now, in case the last resort below is needed.
    const seen = await descendantsOf(pid);
    const exited = () =>
      entry ? within(entry.exited, REAP_WAIT_MS) : goneWithin(pid, REAP_WAIT_MS);
    if (viaReaper) {
      // ESRCH means it exited already, having cleaned up as it does on SIGTERM. A frozen
      // (SIGSTOPped) reaper handles the SIGTERM only once continued: without the SIGCONT, destroy
      // waited out REAP_WAIT_MS before killing the tree itself, and the job's recovery with it.
      signalPid(pid, 'SIGTERM');
      signalPid(pid, 'SIGCONT');
      if (await exited()) {
        // The reaper killed the agent and every descendant; make sure of what we saw.
        await killSurvivors(seen);
        return;
      }
    }
    // No reaper, or one that did not answer: its group, then every descendant seen.
    killGroup(pid);
    const killed = await killSurvivors([...seen, ...(await descendantsOf(pid))]);
    if (viaReaper) {
      logger.warn({ workerId, pid, killed }, 'worker reaper did not stop; killed its tree');
    }
    if (entry) await within(entry.exited, REAP_WAIT_MS);
  }

  return {
    name: 'process',
    create,
    destroy,
    async exists(externalId) {
      // A pid we did not start counts only while it is a worker (a previous server's).
      if (!children.has(externalId) && !(await workerIdOf(externalId))) return false;
      return isRunning(Number(externalId));
    },
    async list() {
      const ids = [...children.keys()];
      const running = await Promise.all(ids.map((id) => isRunning(Number(id))));
      return ids.filter((_, i) => running[i]);
    },
    async inventory() {
      if (options.installationId) return findWorkerProcesses(options.installationId);
      const own = [...children].map(([externalId, c]) => ({
        externalId,
        workerId: c.workerId,
        orphaned: false,
      }));
      const running = await Promise.all(own.map((w) => isRunning(Number(w.externalId))));
      return own.filter((_, i) => running[i]);
    },
    capacity() {
      return Promise.resolve({ maxWorkers: options.maxWorkers });
    },
    onExit(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    close() {
      closed = true;
      listeners.clear();
      return Promise.resolve();
    },
  };
}
