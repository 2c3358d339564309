// Runs one job's command: argv without a shell, in a process group of its own so that a cancel
// or a timeout kills the whole tree (SIGTERM, then SIGKILL after 500 ms). Output is read line by
// line; lines longer than 64 KiB are split.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { constants } from 'node:os';
import type { BufferedLine } from './log-batcher.js';

export type RunEnd =
  | { outcome: 'EXITED'; exitCode: number; signal: string }
  | { outcome: 'TIMED_OUT' | 'CANCELLED'; exitCode: number | null; signal: string }
  | { outcome: 'START_FAILED'; exitCode: number; error: string };

export interface RunSpec {
  command: string;
  args: string[];
  env: Record<string, string>;
  workingDir: string;
  timeoutMs: number;
}

export interface RunningCommand {
  readonly pid: number | undefined;
  /** Resolves once the process has exited and its output has been read. */
  readonly done: Promise<RunEnd>;
  cancel(): void;
  /** Kills the group at once (the agent is going away). */
  kill(): void;
}

const MAX_LINE = 64 * 1024;
const KILL_GRACE_MS = 500;

function startError(error: NodeJS.ErrnoException, spec: RunSpec): RunEnd {
  switch (error.code) {
    case 'ENOENT':
      return {
        outcome: 'START_FAILED',
        exitCode: 127,
        error: `command not found: ${spec.command}`,
      };
    case 'EACCES':
      return {
        outcome: 'START_FAILED',
        exitCode: 126,
        error: `permission denied: ${spec.command}`,
      };
    default:
      return {
        outcome: 'START_FAILED',
        exitCode: 126,
        error: `cannot start ${spec.command}: ${error.message}`,
      };
  }
}

function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

export function runCommand(spec: RunSpec, onLine: (line: BufferedLine) => void): RunningCommand {
  // Node reports a missing working directory as ENOENT of the command: check it first.
  if (spec.workingDir && !existsSync(spec.workingDir)) {
    const error = `working directory not found: ${spec.workingDir}`;
    return {
      pid: undefined,
      done: Promise.resolve({ outcome: 'START_FAILED', exitCode: 127, error }),
      cancel: () => undefined,
      kill: () => undefined,
    };
  }
  const child = spawn(spec.command, spec.args, {
    cwd: spec.workingDir || undefined,
    env: { ...process.env, ...spec.env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stopReason: 'TIMED_OUT' | 'CANCELLED' | undefined;
  let graceTimer: NodeJS.Timeout | undefined;
  const stop = (reason: 'TIMED_OUT' | 'CANCELLED') => {
    if (stopReason || child.exitCode !== null || child.signalCode !== null) return;
    stopReason = reason;
    signalGroup(child.pid, 'SIGTERM');
    graceTimer = setTimeout(() => signalGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS);
  };
  const timeout =
    spec.timeoutMs > 0 ? setTimeout(() => stop('TIMED_OUT'), spec.timeoutMs) : undefined;

  const readers = (['stdout', 'stderr'] as const).map((stream) => {
    const input = child[stream];
    return new Promise<void>((resolve) => {
      if (!input) return resolve();
      const rl = createInterface({ input, crlfDelay: Infinity });
      rl.on('line', (line) => {
        for (let i = 0; i < Math.max(1, line.length); i += MAX_LINE) {
          onLine({ stream, line: line.slice(i, i + MAX_LINE), at: new Date() });
        }
      });
      rl.on('close', resolve);
    });
  });

  const done = new Promise<RunEnd>((resolve) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      if (timeout) clearTimeout(timeout);
      resolve(startError(error, spec));
    });
    child.once('exit', (code, signal) => {
      if (timeout) clearTimeout(timeout);
      // The group may hold more than the direct child (a shell's children): end them too.
      signalGroup(child.pid, 'SIGKILL');
      if (graceTimer) clearTimeout(graceTimer);
      const exitCode = code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
      void Promise.all(readers).then(() =>
        resolve(
          stopReason
            ? { outcome: stopReason, exitCode, signal: signal ?? '' }
            : { outcome: 'EXITED', exitCode, signal: signal ?? '' },
        ),
      );
    });
  });

  return {
    get pid() {
      return child.pid;
    },
    done,
    cancel: () => stop('CANCELLED'),
    kill() {
      stopReason ??= 'CANCELLED';
      signalGroup(child.pid, 'SIGKILL');
    },
  };
}
