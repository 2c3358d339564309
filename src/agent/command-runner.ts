// Runs one job's command: argv without a shell, stdin ignored, in a process group of its own so
// that a timeout, a cancel or the agent's own end reaches the whole tree (SIGTERM to the group,
// SIGKILL 500 ms later if anything is left). Output is handed on as the bytes read from the
// pipes; the caller can pause reading (the job then blocks on write, as on a slow terminal).
// When the command ends, whatever it left running is killed before the run is reported done.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { groupAlive, signalExitCode, signalGroup } from './process-group.js';
import { killJobLeftovers } from './job-containment.js';
import { startFailure, workingDirProblem, type StartFailure } from './start-failure.js';

export type StopReason = 'TIMED_OUT' | 'CANCELLED';
export type OutputStream = 'stdout' | 'stderr';

export type RunEnd =
  { outcome: 'EXITED' | StopReason; exitCode: number; signal: string } | StartFailure;

export interface RunSpec {
  command: string;
  args: readonly string[];
  /** The job's whole environment (nothing is inherited from the agent). */
  env: Readonly<Record<string, string>>;
  /** Empty: the agent's own working directory. */
  workingDir: string;
  /** Zero: no timeout. */
  timeoutMs: number;
}

export interface RunningCommand {
  readonly pid: number | undefined;
  /** Resolves once the command has ended and its output has been read (never rejects). */
  readonly done: Promise<RunEnd>;
  /** SIGTERM to the group, SIGKILL after the grace period; the run ends CANCELLED. */
  cancel(): void;
  /** SIGKILL to the group at once: the agent is going away. */
  kill(): void;
  /** Stops reading the job's pipes (its writes block once the pipe is full). */
  pause(): void;
  resume(): void;
}

export const KILL_GRACE_MS = 500;
/**
 * After the command ended, a pipe still open with nothing coming through for this long is held by
 * a process that escaped the group (only without the subreaper): stop waiting for it.
 */
const PIPE_IDLE_MS = 1000;

function notStarted(end: StartFailure): RunningCommand {
  const nothing = () => {};
  return {
    pid: undefined,
    done: Promise.resolve(end),
    cancel: nothing,
    kill: nothing,
    pause: nothing,
    resume: nothing,
  };
}

function startProcess(spec: RunSpec): ChildProcess | StartFailure {
  try {
    return spawn(spec.command, [...spec.args], {
      cwd: spec.workingDir || undefined,
      env: spec.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    // Node throws at once for some errors (ENAMETOOLONG, E2BIG…) instead of emitting 'error'.
    return startFailure((error as NodeJS.ErrnoException).code, failureContext(spec));
  }
}

function failureContext(spec: RunSpec) {
  return { command: spec.command, workingDir: spec.workingDir, envPath: spec.env.PATH };
}

function whenClosed(input: Readable | null): Promise<void> {
  return new Promise((resolve) => {
    if (!input || input.destroyed) return resolve();
    input.once('close', () => resolve());
    input.once('error', () => input.destroy());
  });
}

export function runCommand(
  spec: RunSpec,
  onOutput: (stream: OutputStream, data: Buffer) => void,
): RunningCommand {
  if (spec.command === '') return notStarted(startFailure('ENOENT', failureContext(spec)));
  const badDir = workingDirProblem(spec.workingDir);
  if (badDir) return notStarted(badDir);
  const started = startProcess(spec);
  if ('outcome' in started) return notStarted(started);
  const child = started;

  let stopReason: StopReason | undefined;
  let exited = false;
  let paused = false;
  let bytesRead = 0;
  let graceTimer: NodeJS.Timeout | undefined;
  const pipes = [child.stdout, child.stderr];
  child.stdout?.on('data', (data: Buffer) => {
    bytesRead += data.length;
    onOutput('stdout', data);
  });
  child.stderr?.on('data', (data: Buffer) => {
    bytesRead += data.length;
    onOutput('stderr', data);
  });

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

  /** Waits until both pipes are read to the end (or held open, idle, by an escaped process). */
  async function drained(): Promise<void> {
    let seen = bytesRead;
    const watchdog = setInterval(() => {
      if (!paused && bytesRead === seen) for (const pipe of pipes) pipe?.destroy();
      seen = bytesRead;
    }, PIPE_IDLE_MS);
    await Promise.all(pipes.map(whenClosed));
    clearInterval(watchdog);
  }

  const done = new Promise<RunEnd>((resolve) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      // Emitted instead of 'exit' when the process could not be started.
      if (child.pid !== undefined) return;
      exited = true;
      clearTimeout(timeout);
      for (const pipe of pipes) pipe?.destroy();
      resolve(startFailure(error.code, failureContext(spec)));
    });
    child.once('exit', (code, signal) => {
      exited = true;
      clearTimeout(timeout);
      clearTimeout(graceTimer);
      // The leader is gone; whatever it left running goes with it: its group, and (under the
      // worker's subreaper) processes that left the group with setsid or a double fork.
      signalGroup(child.pid, 'SIGKILL');
      const exitCode = code ?? (signal ? signalExitCode(signal) : 0);
      void killJobLeftovers()
        .catch(() => 0)
        .then(drained)
        .then(() => resolve({ outcome: stopReason ?? 'EXITED', exitCode, signal: signal ?? '' }));
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
    pause() {
      paused = true;
      for (const pipe of pipes) pipe?.pause();
    },
    resume() {
      paused = false;
      for (const pipe of pipes) pipe?.resume();
    },
  };
}
