// The process provider: each worker is a child process (`hodei worker`) leading a process group
// of its own. Destroy SIGKILLs that group and then the job groups the worker started, which live
// in groups of their own and so survive it; they are found by the HODEI_WORKER_ID they inherit.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { Provider, WorkerExit, WorkerLaunchSpec } from '../provider.js';
import type { Logger } from '../../shared/logger.js';
import { ConfigError, HodeiError, errorMessage } from '../../shared/errors.js';
import {
  WORKER_ID_VARIABLE,
  environmentValue,
  isRunning,
  killGroup,
  killMarkedGroups,
} from './process-tree.js';

export interface ProcessProviderOptions {
  /** argv of the worker, e.g. [process.execPath, '/…/bin/hodei.js', 'worker']. */
  command: readonly string[];
  /** Added to the server's own environment for every worker. */
  env?: Record<string, string>;
  logger: Logger;
  maxWorkers?: number;
}

interface Child {
  child: ChildProcess;
  workerId: string;
  exited: Promise<void>;
}

/** How long destroy waits for a SIGKILLed worker to be reaped before it returns anyway. */
const REAP_WAIT_MS = 2000;

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

async function within(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

export function createProcessProvider(options: ProcessProviderOptions): Provider {
  const { logger } = options;
  const [program, ...baseArgs] = options.command;
  if (!program) throw new ConfigError('worker command', 'must not be empty');
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
    return environmentValue(Number(externalId), WORKER_ID_VARIABLE);
  }

  async function create(spec: WorkerLaunchSpec): Promise<{ externalId: string }> {
    const child = spawn(program!, baseArgs, {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        ...options.env,
        HODEI_URL: spec.serverUrl,
        [WORKER_ID_VARIABLE]: spec.workerId,
        HODEI_WORKER_OTP: spec.otp,
        HODEI_CORRELATION_ID: spec.correlationId,
      },
    });
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
        log.info({ code, signal }, 'worker process exited');
        // A worker that died by itself leaves its job groups behind: end them too.
        void killMarkedGroups(spec.workerId)
          .catch((error: unknown) =>
            log.warn({ error: errorMessage(error) }, 'could not clean up job processes'),
          )
          .finally(() => {
            notifyExit({ externalId, code, signal });
            resolve();
          });
      });
    });
    children.set(externalId, { child, workerId: spec.workerId, exited });
    log.info({ command: options.command }, 'worker process started');
    return { externalId };
  }

  async function destroy(externalId: string): Promise<void> {
    const pid = Number(externalId);
    if (!Number.isInteger(pid) || pid <= 1) return;
    const entry = children.get(externalId);
    const workerId = await workerIdOf(externalId);
    // A pid we neither started nor can tell is a worker may belong to anyone now: leave it.
    if (!entry && !workerId) return;
    killGroup(pid);
    if (workerId) await killMarkedGroups(workerId);
    if (entry) await within(entry.exited, REAP_WAIT_MS);
  }

  return {
    name: 'process',
    create,
    destroy,
    async exists(externalId) {
      return children.has(externalId) && (await isRunning(Number(externalId)));
    },
    async list() {
      const ids = [...children.keys()];
      const running = await Promise.all(ids.map((id) => isRunning(Number(id))));
      return ids.filter((_, i) => running[i]);
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
