// Why a command could not be started, in the words an operator needs and with the shell's exit
// codes (127 not found, 126 found but not runnable). Never throws: whatever a job asks for, its
// failure is the job's, never the worker's.
import { accessSync, constants, openSync, readSync, closeSync, statSync } from 'node:fs';
import path from 'node:path';

export interface StartFailure {
  outcome: 'START_FAILED';
  exitCode: number;
  error: string;
}

/** A command name in a message: a 4,000-character name is shown by its start. */
export function shortName(command: string, max = 200): string {
  return command.length <= max ? command : `${command.slice(0, max)}… (${command.length} chars)`;
}

function isFile(file: string): boolean {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Where spawn would have found the program, or undefined (PATH search as execvp does it). */
function locate(command: string, cwd: string, envPath: string | undefined): string | undefined {
  if (command.includes('/')) {
    const file = path.resolve(cwd || process.cwd(), command);
    return isFile(file) ? file : undefined;
  }
  for (const dir of (envPath ?? '').split(':')) {
    const file = path.join(dir || '.', command);
    if (isFile(file)) return file;
  }
  return undefined;
}

/** The interpreter named on a script's "#!" line, if the file starts with one. */
function interpreterOf(file: string): string | undefined {
  try {
    const fd = openSync(file, 'r');
    try {
      const head = Buffer.alloc(256);
      const n = readSync(fd, head, 0, head.length, 0);
      const text = head.subarray(0, n).toString('latin1');
      if (!text.startsWith('#!')) return undefined;
      return text.slice(2).split('\n')[0]!.trim().split(/\s+/)[0] || undefined;
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export interface StartContext {
  command: string;
  workingDir: string;
  envPath: string | undefined;
}

/** Explains an errno code from spawn (given by 'error' or thrown at once). */
export function startFailure(code: string | undefined, spec: StartContext): StartFailure {
  const name = shortName(spec.command);
  const fail = (exitCode: number, error: string): StartFailure => ({
    outcome: 'START_FAILED',
    exitCode,
    error,
  });
  switch (code) {
    case 'ENOENT': {
      // The program exists, so what is missing is the interpreter its "#!" line names.
      const found = locate(spec.command, spec.workingDir, spec.envPath);
      const interpreter = found && executable(found) ? interpreterOf(found) : undefined;
      if (interpreter) return fail(126, `bad interpreter: ${shortName(interpreter)} (in ${name})`);
      return fail(127, `command not found: ${name}`);
    }
    case 'EACCES':
    case 'EISDIR':
      return fail(126, `permission denied: ${name}`);
    case 'ENOEXEC':
      return fail(126, `not executable (exec format error): ${name}`);
    case 'ENAMETOOLONG':
      return fail(126, `command name too long: ${name}`);
    case 'E2BIG':
      return fail(126, `arguments and environment too large to start ${name}`);
    case 'EAGAIN':
      return fail(126, `cannot start ${name}: no process slot free (EAGAIN)`);
    case 'ENOTDIR':
      return fail(127, `command not found (a path component is not a directory): ${name}`);
    default:
      return fail(126, `cannot start ${name}: ${code ?? 'unknown error'}`);
  }
}

/** Node reports a missing working directory as ENOENT of the command, so check it first. */
export function workingDirProblem(dir: string): StartFailure | undefined {
  if (dir === '') return undefined;
  let stat;
  try {
    stat = statSync(dir);
  } catch {
    return {
      outcome: 'START_FAILED',
      exitCode: 126,
      error: `working directory not found: ${shortName(dir)}`,
    };
  }
  if (stat.isDirectory()) return undefined;
  return {
    outcome: 'START_FAILED',
    exitCode: 126,
    error: `working directory is not a directory: ${shortName(dir)}`,
  };
}
