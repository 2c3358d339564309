// The process provider: each worker is a child process (`hodei worker`) in its own process group.
// Destroy kills that group and the job groups the worker started (found by HODEI_WORKER_ID).
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Provider, WorkerExit, WorkerLaunchSpec } from '../provider.js';
import type { Logger } from '../../shared/logger.js';
import { HodeiError } from '../../shared/errors.js';
import { groupsWithEnv, isAlive, killGroup } from './process-tree.js';

export interface ProcessProviderOptions {
  /** argv of the worker, e.g. [process.execPath, '/…/bin/hodei.js', 'worker']. */
  command: readonly string[];
  env?: Record<string, string>;
  logger: Logger;
  maxWorkers?: number;
}

export function createProcessProvider(options: ProcessProviderOptions): Provider {
  const { logger } = options;
  const children = new Map<string, { child: ChildProcess; workerId: string }>();
  const listeners = new Set<(exit: WorkerExit) => void>();
  const [program, ...baseArgs] = options.command;
  if (!program) throw new HodeiError('CONFIG_INVALID', 'the worker command is empty');

  function pipeLines(
    stream: NodeJS.ReadableStream | null,
    log: Logger,
    level: 'info' | 'warn',
  ): void {
    if (!stream) return;
    createInterface({ input: stream }).on('line', (line) =>
      log[level]({ worker: line }, 'worker output'),
    );
  }

  async function destroy(externalId: string): Promise<void> {
    const pid = Number(externalId);
    const entry = children.get(externalId);
    if (Number.isInteger(pid) && pid > 1) killGroup(pid);
    if (entry) {
      for (const pgid of groupsWithEnv('HODEI_WORKER_ID', entry.workerId)) killGroup(pgid);
    }
    await Promise.resolve();
  }

  return {
    name: 'process',
    async create(spec: WorkerLaunchSpec) {
      const child = spawn(program, baseArgs, {
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          ...options.env,
          HODEI_URL: spec.serverUrl,
          HODEI_WORKER_ID: spec.workerId,
          HODEI_WORKER_OTP: spec.otp,
          HODEI_CORRELATION_ID: spec.correlationId,
        },
      });
      const pid = await new Promise<number>((resolve, reject) => {
        child.once('spawn', () => resolve(child.pid ?? 0));
        child.once('error', (error) =>
          reject(
            new HodeiError(
              'PROVIDER_FAILED',
              `cannot start worker: ${error.message}`,
              {},
              { cause: error },
            ),
          ),
        );
      });
      const externalId = String(pid);
      const log = logger.child({ workerId: spec.workerId, pid });
      pipeLines(child.stdout, log, 'info');
      pipeLines(child.stderr, log, 'info');
      children.set(externalId, { child, workerId: spec.workerId });
      child.once('exit', (code, signal) => {
        children.delete(externalId);
        // Leftover job groups of a worker that died on its own.
        for (const pgid of groupsWithEnv('HODEI_WORKER_ID', spec.workerId)) killGroup(pgid);
        for (const listener of listeners) listener({ externalId, code, signal });
      });
      return { externalId };
    },
    destroy,
    async exists(externalId) {
      await Promise.resolve();
      return children.has(externalId) && isAlive(Number(externalId));
    },
    async list() {
      await Promise.resolve();
      return [...children.keys()].filter((id) => isAlive(Number(id)));
    },
    async capacity() {
      await Promise.resolve();
      return { maxWorkers: options.maxWorkers };
    },
    onExit(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      listeners.clear();
      await Promise.resolve();
    },
  };
}
