// Runs one job's command: argv without a shell, stdin ignored, in a process group of its own so
// that a timeout, a cancel or the agent's own end reaches the whole tree (SIGTERM to the group,
// SIGKILL 500 ms later if anything is left). Output is split into lines as it arrives.
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { createLineSplitter } from './line-splitter.js';
import { groupAlive, signalExitCode, signalGroup } from './process-group.js';

export type StopReason = 'TIMED_OUT' | 'CANCELLED';

export type RunEnd =
  | { outcome: 'EXITED' | StopReason; exitCode: number; signal: string }
  | { outcome: 'START_FAILED'; exitCode: number; error: string };

export interface RunSpec {
  command: string;
  args: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  /** Empty: the agent's own working directory. */
  workingDir: string;
  /** Zero: no timeout. */
  timeoutMs: number;
}

export type OutputStream = 'stdout' | 'stderr';

export interface RunningCommand {
  readonly pid: number | undefined;
  /** Resolves once the command has ended and its output has been read (never rejects). */
  readonly done: Promise<RunEnd>;
  /** SIGTERM to the group, SIGKILL after the grace period; the run ends CANCELLED. */
  cancel(): void;
  /** SIGKILL to the group at once: the agent is going away. */
  kill(): void;
}

export const KILL_GRACE_MS = 500;
/** How long output pipes may stay open after the group was killed (held by an escaped process). */
const PIPE_DRAIN_MS = 1000;

/** Start failures in the words an operator needs, with the shell's exit codes (127, 126). */
export function startFailure(code: string | undefined, spec: RunSpec): RunEnd {
  switch (code) {
    case 'ENOENT':
      return {
        outcome: 'START_FAILED',
        exitCode: 127,
        error: `command not found: ${spec.command}`,
      };
    case 'EACCES':
    case 'EISDIR':
      return {
        outcome: 'START_FAILED',
        exitCode: 126,
        error: `permission denied: ${spec.command}`,
      };
    case 'ENOEXEC':
      return { outcome: 'START_FAILED', exitCode: 126, error: `not executable: ${spec.command}` };
    default:
      return {
        outcome: 'START_FAILED',
        exitCode: 126,
        error: `cannot start ${spec.command}: ${code ?? 'unknown error'}`,
      };
  }
}

/** Node reports a missing working directory as ENOENT of the command, so check it first. */
function workingDirProblem(dir: string): RunEnd | undefined {
  if (dir === '') return undefined;
  try {
    if (statSync(dir).isDirectory()) return undefined;
  } catch {
    // missing or unreadable: same answer
  }
  return { outcome: 'START_FAILED', exitCode: 126, error: `working directory not found: ${dir}` };
}

function notStarted(end: RunEnd): RunningCommand {
  return { pid: undefined, done: Promise.resolve(end), cancel: () => {}, kill: () => {} };
}

function readLines(
  input: Readable | null,
  stream: OutputStream,
  onLine: (stream: OutputStream, line: string) => void,
): Promise<void> {
  return new Promise((resolve) => {
    if (!input) return resolve();
    const splitter = createLineSplitter((line) => onLine(stream, line));
    input.on('data', (chunk: Buffer) => splitter.push(chunk));
    input.once('close', () => {
      splitter.end();
      resolve();
    });
    input.once('error', () => input.destroy());
  });
}

export function runCommand(
  spec: RunSpec,
  onLine: (stream: OutputStream, line: string) => void,
): RunningCommand {
  if (spec.command === '') return notStarted(startFailure('ENOENT', spec));
  const badDir = workingDirProblem(spec.workingDir);
  if (badDir) return notStarted(badDir);

  const child = spawn(spec.command, [...spec.args], {
    cwd: spec.workingDir || undefined,
    env: spec.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stopReason: StopReason | undefined;
  let exited = false;
  let graceTimer: NodeJS.Timeout | undefined;

  const stop = (reason: StopReason) => {
    if (exited || stopReason) return;
    stopReason = reason;
    signalGroup(child.pid, 'SIGTERM');
    graceTimer = setTimeout(() => {
      if (groupAlive(child.pid)) signalGroup(child.pid, 'SIGKILL');
    }, KILL_GRACE_MS);
  };
  const timeout =
    spec.timeoutMs > 0 ? setTimeout(() => stop('TIMED_OUT'), spec.timeoutMs) : undefined;
  const readers = [
    readLines(child.stdout, 'stdout', onLine),
    readLines(child.stderr, 'stderr', onLine),
  ];

  const done = new Promise<RunEnd>((resolve) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      // Emitted instead of 'exit' when the process could not be started.
      if (child.pid !== undefined) return;
      exited = true;
      clearTimeout(timeout);
      resolve(startFailure(error.code, spec));
    });
    child.once('exit', (code, signal) => {
      exited = true;
      clearTimeout(timeout);
      clearTimeout(graceTimer);
      // The leader is gone; whatever it left running in its group goes with it (and so the pipes
      // those processes hold close).
      signalGroup(child.pid, 'SIGKILL');
      const drained = new Promise<void>((r) => {
        const timer = setTimeout(() => {
          child.stdout?.destroy();
          child.stderr?.destroy();
          r();
        }, PIPE_DRAIN_MS);
        void Promise.all(readers).then(() => {
          clearTimeout(timer);
          r();
        });
      });
      const exitCode = code ?? (signal ? signalExitCode(signal) : 0);
      void drained.then(() =>
        resolve({ outcome: stopReason ?? 'EXITED', exitCode, signal: signal ?? '' }),
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
      if (exited) return;
      stopReason ??= 'CANCELLED';
      signalGroup(child.pid, 'SIGKILL');
    },
  };
}
