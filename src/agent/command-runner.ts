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
import { spawnThroughHelper } from './spawn-helper.js';

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
  /** The command's pid (and its group's id) once it runs; undefined before, and if it never does. */
  readonly pid: number | undefined;
  /** Resolves with the pid once the command runs, or undefined when it could not be started. */
  readonly started: Promise<number | undefined>;
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
    started: Promise.resolve(undefined),
    done: Promise.resolve(end),
    cancel: nothing,
    kill: nothing,
    pause: nothing,
    resume: nothing,
  };
}

/** What runCommand needs to hear about the process, however it was started. */
interface Launch {
  started(pid: number, stdout: Readable | null, stderr: Readable | null): void;
  failed(code: string | undefined): void;
  exited(code: number | null, signal: NodeJS.Signals | null): void;
}

/** Starts the command through the agent's spawn helper, or with spawn when it cannot. */
function launch(spec: RunSpec, events: Launch): StartFailure | undefined {
  const helped = spawnThroughHelper(
    { command: spec.command, args: spec.args, env: spec.env, workingDir: spec.workingDir },
    events,
  );
  if (helped) return undefined;
  let child: ChildProcess;
  try {
    child = spawn(spec.command, [...spec.args], {
      cwd: spec.workingDir || undefined,
      env: spec.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    // Node throws at once for some errors (ENAMETOOLONG, E2BIG…) instead of emitting 'error'.
    return startFailure((error as NodeJS.ErrnoException).code, failureContext(spec));
  }
  child.once('spawn', () => events.started(child.pid!, child.stdout, child.stderr));
  child.once('error', (error: NodeJS.ErrnoException) => {
    // Emitted instead of 'spawn' and 'exit' when the process could not be started.
    if (child.pid !== undefined) return;
    child.stdout?.destroy();
    child.stderr?.destroy();
    events.failed(error.code);
  });
  child.once('exit', (code, signal) => events.exited(code, signal));
  return undefined;
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

  let pid: number | undefined;
  let stopReason: StopReason | undefined;
  /** The signal a stop asked for before the process had a pid to send it to. */
  let owed: 'SIGTERM' | 'SIGKILL' | undefined;
  let exited = false;
  let paused = false;
  let bytesRead = 0;
  let graceTimer: NodeJS.Timeout | undefined;
  let timeout: NodeJS.Timeout | undefined;
  const pipes: Readable[] = [];
  let resolveStarted!: (pid: number | undefined) => void;
  const started = new Promise<number | undefined>((resolve) => (resolveStarted = resolve));
  let resolveDone!: (end: RunEnd) => void;
  const done = new Promise<RunEnd>((resolve) => (resolveDone = resolve));

  const signal = (name: 'SIGTERM' | 'SIGKILL') => {
    if (pid === undefined) owed = owed === 'SIGKILL' ? owed : name;
    else signalGroup(pid, name);
  };
  const stop = (reason: StopReason) => {
    if (exited || stopReason) return;
    stopReason = reason;
    signal('SIGTERM');
    graceTimer = setTimeout(() => {
      if (pid === undefined) owed = 'SIGKILL';
      else if (groupAlive(pid)) signalGroup(pid, 'SIGKILL');
    }, KILL_GRACE_MS);
  };

  /** Waits until both pipes are read to the end (or held open, idle, by an escaped process). */
  async function drained(): Promise<void> {
    let seen = bytesRead;
    const watchdog = setInterval(() => {
      if (!paused && bytesRead === seen) for (const pipe of pipes) pipe.destroy();
      seen = bytesRead;
    }, PIPE_IDLE_MS);
    await Promise.all(pipes.map(whenClosed));
    clearInterval(watchdog);
  }

  const failure = launch(spec, {
    started(startedPid, stdout, stderr) {
      pid = startedPid;
      for (const [stream, pipe] of [
        ['stdout', stdout],
        ['stderr', stderr],
      ] as const) {
        if (!pipe) continue;
        pipes.push(pipe);
        pipe.on('data', (data: Buffer) => {
          bytesRead += data.length;
          onOutput(stream, data);
        });
        if (paused) pipe.pause();
      }
      if (owed) signalGroup(pid, owed);
      resolveStarted(pid);
    },
    failed(code) {
      exited = true;
      clearTimeout(timeout);
      clearTimeout(graceTimer);
      for (const pipe of pipes) pipe.destroy();
      resolveStarted(undefined);
      resolveDone(startFailure(code, failureContext(spec)));
    },
    exited(code, exitSignal) {
      exited = true;
      clearTimeout(timeout);
      clearTimeout(graceTimer);
      // The leader is gone; whatever it left running goes with it: its group, and (under the
      // worker's subreaper) processes that left the group with setsid or a double fork.
      signalGroup(pid, 'SIGKILL');
      const exitCode = code ?? (exitSignal ? signalExitCode(exitSignal) : 0);
      void killJobLeftovers()
        .catch(() => 0)
        .then(drained)
        .then(() =>
          resolveDone({ outcome: stopReason ?? 'EXITED', exitCode, signal: exitSignal ?? '' }),
        );
    },
  });
  if (failure) return notStarted(failure);
  if (spec.timeoutMs > 0) timeout = setTimeout(() => stop('TIMED_OUT'), spec.timeoutMs);

  return {
    get pid() {
      return pid;
    },
    started,
    done,
    cancel: () => stop('CANCELLED'),
    kill() {
      if (exited) return;
      stopReason ??= 'CANCELLED';
      signal('SIGKILL');
    },
    pause() {
      paused = true;
      for (const pipe of pipes) pipe.pause();
    },
    resume() {
      paused = false;
      for (const pipe of pipes) pipe.resume();
    },
  };
}
