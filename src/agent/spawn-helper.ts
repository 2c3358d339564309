// The agent's spawn helper (issue 11, docs/decisions/0021-spawn-helper.md): a small perl process
// the agent starts once and that forks every job's command for it. Node starts a child by
// fork()ing itself: for a ~70 MB agent that copies its page tables and then pays a copy-on-write
// fault for every page either side touches before the exec (~3.5 ms of the agent's CPU per
// command on the benchmark machine), with the agent's event loop stopped until the exec. The
// helper is a few MB; its own loop costs ~3 ms per command there, but in its own process.
//
// The job's output does not pass through the helper: it makes two named pipes per job in a
// directory only this agent can enter, the agent opens their read ends and reads them itself,
// so a job that writes faster than the agent reads blocks on its own pipe as before. The helper
// waits for the exec before it goes on, so neither side touches (and copies) pages meanwhile.
// Protocol, agent → helper (stdin): "<bytes>\n" then fields joined by NUL, one of
//     R <id> <working dir> <argc> <argv…> <env K=V…>   run a command
//     O <id>                                          the agent has opened both pipes
//   helper → agent (stdout), one line each:
//     S <id> <pid>     running (its exec succeeded); its pipes are <dir>/<id>.1 and <dir>/<id>.2
//     E <id> <errno>   it could not be started (mkfifo, chdir or exec failed)
//     X <id> <status>  it ended (the wait status: exit code << 8, or the signal number)
// The child makes itself a session (and group) leader before exec, as spawn's `detached` does,
// so the agent signals the job's group itself. When the agent goes away the helper's stdin
// ends: it kills every group it started and exits.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, rmSync, unlinkSync, constants as fsc } from 'node:fs';
import { Socket } from 'node:net';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { onPath } from '../shared/on-path.js';
import { signalGroup } from './process-group.js';

/** On the helper's command line, so that operators and the benchmarks can tell what it is. */
export const SPAWN_HELPER_NAME = 'hodei-spawn-helper';

// argv: <name> <fifo directory>. Whole-line comments are stripped before it goes on the command
// line. Perl marks every descriptor above 2 close-on-exec, so a job inherits none of the helper's.
const SCRIPT = String.raw`
use strict;
use POSIX ();
use Fcntl ();
my (undef, $dir) = @ARGV;
# The agent's pipes move off descriptors 0-2: before each fork those are set to the job's own
# stdin, stdout and stderr, so that the child has nothing left to do but exec.
open(my $from_agent, '<&', \*STDIN) or die "hodei-spawn-helper: stdin: $!\n";
open(my $to_agent, '>&', \*STDOUT) or die "hodei-spawn-helper: stdout: $!\n";
open(my $log, '>&', \*STDERR) or die "hodei-spawn-helper: stderr: $!\n";
open(my $null, '+<', '/dev/null') or die "hodei-spawn-helper: /dev/null: $!\n";
select($to_agent); $| = 1;
# A terminal's ^C reaches the agent's whole group: the agent decides, the helper goes on. Caught,
# not ignored: exec puts caught signals back to their defaults for the job.
$SIG{$_} = sub {} for qw(INT TERM HUP QUIT PIPE);
# SIGCHLD wakes the select loop through a pipe, so no exit is missed between two selects.
pipe(my $wake_r, my $wake_w) or die "hodei-spawn-helper: pipe: $!\n";
for my $fh ($wake_r, $wake_w) { fcntl($fh, Fcntl::F_SETFL(), fcntl($fh, Fcntl::F_GETFL(), 0) | Fcntl::O_NONBLOCK()) }
$SIG{CHLD} = sub { syswrite($wake_w, 'x') };
my ($null_fd, $log_fd) = (fileno($null), fileno($log));
my (%running, %held);
sub tell_agent { print join(' ', @_), "\n" }
# The job's two pipes, open at both ends here: the write ends become its stdout and stderr. Both
# ends are held until the agent says it has opened its own (O): what the job writes before then
# waits in the pipe (no SIGPIPE, nothing dropped), and the agent opens a pipe that has a writer
# (Linux never reports the end of a FIFO to a reader that opened it with none).
sub fifo {
  my ($path) = @_;
  POSIX::mkfifo($path, 0600) or return;
  sysopen(my $r, $path, Fcntl::O_RDONLY() | Fcntl::O_NONBLOCK()) or return;
  sysopen(my $w, $path, Fcntl::O_WRONLY()) or return;
  return ($r, $w);
}
sub start {
  my ($id, $cwd, $argc, @rest) = @_;
  my @argv = splice(@rest, 0, $argc);
  my ($out_r, $out_w) = fifo("$dir/$id.1") or return tell_agent('E', $id, $! + 0);
  my ($err_r, $err_w) = fifo("$dir/$id.2") or return tell_agent('E', $id, $! + 0);
  pipe(my $status_r, my $status_w) or return tell_agent('E', $id, $! + 0);
# Everything is prepared before the fork: from the fork to the exec, every page either side
# writes is copied, at ~20 us a page fault on a virtual machine.
  %ENV = map { split /=/, $_, 2 } @rest;
  POSIX::dup2($null_fd, 0);
  POSIX::dup2(fileno($out_w), 1);
  POSIX::dup2(fileno($err_w), 2);
  my $pid = fork;
  if (defined $pid && $pid == 0) {
    POSIX::setsid();
    exec { $argv[0] } @argv if $cwd eq '' || chdir($cwd);
    syswrite($status_w, pack('N', $! + 0));
    POSIX::_exit(127);
  }
  my $fork_errno = $! + 0;
  POSIX::dup2($null_fd, 1);
  POSIX::dup2($log_fd, 2);
  return tell_agent('E', $id, $fork_errno) unless defined $pid;
  close $status_w;
# The status pipe closes at a successful exec, or brings the errno first.
  my ($got, $errno);
  do { $got = sysread($status_r, $errno, 4) } while (!defined $got && $! == POSIX::EINTR());
  return tell_agent('E', $id, unpack('N', $errno)) if defined $got && $got == 4;
  $running{$pid} = $id;
  $held{$id} = [$out_r, $out_w, $err_r, $err_w];
  tell_agent('S', $id, $pid);
}
my $in = '';
my $rin = '';
vec($rin, fileno($from_agent), 1) = 1;
vec($rin, fileno($wake_r), 1) = 1;
while (1) {
# The timeout is a backstop: once in a 100,000-job run a child's exit went unreported with no
# byte in the wake pipe (cause not found); reaping every half second bounds what that costs.
  my $n = select(my $rout = $rin, undef, undef, 0.5);
  if ($n < 0) { next if $! == POSIX::EINTR(); die "hodei-spawn-helper: select: $!\n" }
  sysread($wake_r, my $junk, 4096) if vec($rout, fileno($wake_r), 1);
  while ((my $pid = waitpid(-1, POSIX::WNOHANG())) > 0) {
    my $id = delete $running{$pid};
    tell_agent('X', $id, $?) if defined $id;
  }
  next unless vec($rout, fileno($from_agent), 1);
  my $got = sysread($from_agent, $in, 65536, length $in);
  unless ($got) {
    kill 'KILL', map { -$_ } keys %running;
    exit 0;
  }
  while ($in =~ /^(\d+)\n/) {
    my ($len, $head) = ($1, length($1) + 1);
    last if length($in) < $head + $len;
    my ($verb, @fields) = split /\0/, substr($in, $head, $len), -1;
    if ($verb eq 'R') { start(@fields) } elsif ($verb eq 'O') { delete $held{$fields[0]} }
    substr($in, 0, $head + $len, '');
  }
}
`
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'))
  .join('\n');

export interface HelperSpec {
  command: string;
  args: readonly string[];
  env: Readonly<Record<string, string>>;
  /** Empty: the agent's own working directory. */
  workingDir: string;
}

/** What the helper tells about one command, in this order: started or failed, then exited. */
export interface HelperEvents {
  /** Running as `pid`, leader of its own group; its output comes through these two pipes. */
  started(pid: number, stdout: Readable | null, stderr: Readable | null): void;
  /** Could not be started: the errno code (ENOENT, EACCES…), as spawn's 'error' gives it. */
  failed(code: string | undefined): void;
  exited(code: number | null, signal: NodeJS.Signals | null): void;
}

interface Entry {
  events: HelperEvents;
  pid?: number;
  started: boolean;
}

/** Number → name, the first name where several share a number (EAGAIN, not EWOULDBLOCK). */
function byNumber<T extends string>(table: Record<string, number>): Map<number, T> {
  const names = new Map<number, T>();
  for (const [name, n] of Object.entries(table)) if (!names.has(n)) names.set(n, name as T);
  return names;
}
const ERRNO_NAMES = byNumber<string>(constants.errno);
const SIGNAL_NAMES = byNumber<NodeJS.Signals>(constants.signals);

/** True when the helper can carry this command unchanged (NUL cannot cross; spawn refuses it). */
function expressible(spec: HelperSpec): boolean {
  const strings = [spec.command, spec.workingDir, ...spec.args, ...Object.values(spec.env)];
  return (
    strings.every((s) => !s.includes('\0')) &&
    Object.keys(spec.env).every((key) => key !== '' && !key.includes('=') && !key.includes('\0'))
  );
}

class SpawnHelper {
  private readonly entries = new Map<string, Entry>();
  private nextId = 0;
  private lineBuffer = '';
  private alive = true;
  private closing = false;

  constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    private readonly onGone: () => void,
  ) {
    child.stdout!.setEncoding('latin1');
    child.stdout!.on('data', (text: string) => this.read(text));
    child.stdin!.on('error', () => undefined);
    child.once('error', () => this.gone());
    child.once('exit', () => this.gone());
    // The helper keeps the agent's event loop alive only while it has a command to report on.
    child.unref();
    this.holdLoop(false);
    (child.stdin as Socket).unref();
  }

  private holdLoop(hold: boolean): void {
    const out = this.child.stdout as Socket;
    if (hold) out.ref();
    else out.unref();
  }

  private forget(id: string): void {
    this.entries.delete(id);
    if (this.entries.size === 0) this.holdLoop(false);
  }

  run(spec: HelperSpec, events: HelperEvents): void {
    const id = String(++this.nextId);
    this.entries.set(id, { events, started: false });
    this.holdLoop(true);
    this.send([
      'R',
      id,
      spec.workingDir,
      String(spec.args.length + 1),
      spec.command,
      ...spec.args,
      ...Object.entries(spec.env).map(([key, value]) => `${key}=${value}`),
    ]);
  }

  private send(fields: string[]): void {
    const bytes = Buffer.from(fields.join('\0'));
    this.child.stdin!.write(Buffer.concat([Buffer.from(`${bytes.length}\n`), bytes]));
  }

  private read(text: string): void {
    this.lineBuffer += text;
    let end;
    while ((end = this.lineBuffer.indexOf('\n')) >= 0) {
      const line = this.lineBuffer.slice(0, end);
      this.lineBuffer = this.lineBuffer.slice(end + 1);
      this.handle(line.split(' '));
    }
  }

  private fifo(id: string, n: 1 | 2): string {
    return join(this.dir, `${id}.${n}`);
  }

  private handle([kind, id = '', value = '']: string[]): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    switch (kind) {
      case 'S': {
        entry.pid = Number(value);
        entry.started = true;
        const pipes: (Readable | null)[] = [];
        for (const n of [1, 2] as const) {
          try {
            const fd = openSync(this.fifo(id, n), fsc.O_RDONLY | fsc.O_NONBLOCK);
            pipes.push(new Socket({ fd, readable: true, writable: false }));
          } catch {
            // Only if the directory was removed under us: the job would run unheard, so it is
            // killed (its exit still comes back as X).
            signalGroup(entry.pid, 'SIGKILL');
            pipes.push(null);
          }
        }
        this.unlinkFifos(id);
        this.send(['O', id]);
        entry.events.started(entry.pid, pipes[0]!, pipes[1]!);
        return;
      }
      case 'E':
        this.forget(id);
        this.unlinkFifos(id);
        entry.events.failed(ERRNO_NAMES.get(Number(value)) ?? `errno ${value}`);
        return;
      case 'X': {
        this.forget(id);
        const status = Number(value);
        const signal = status & 127;
        if (signal) entry.events.exited(null, SIGNAL_NAMES.get(signal) ?? 'SIGKILL');
        else entry.events.exited(status >> 8, null);
        return;
      }
    }
  }

  private unlinkFifos(id: string): void {
    for (const n of [1, 2] as const) {
      try {
        unlinkSync(this.fifo(id, n));
      } catch {
        // not made (mkfifo failed) or already gone
      }
    }
  }

  /**
   * The helper died (killed by hand, most likely). Its commands can no longer be waited for:
   * each is killed with its group and reported as ended by SIGKILL, which is what happened —
   * after the agent has been told (onSpawnHelperLost), which ends the worker instead.
   */
  private gone(): void {
    if (!this.alive) return;
    this.alive = false;
    this.onGone();
    if (!this.closing) lostListener?.();
    for (const [id, entry] of this.entries) {
      this.entries.delete(id);
      signalGroup(entry.pid, 'SIGKILL');
      this.unlinkFifos(id);
      if (entry.started) entry.events.exited(null, 'SIGKILL');
      else entry.events.failed('ECHILD');
    }
    rmSync(this.dir, { recursive: true, force: true });
    directories.delete(this.dir);
  }

  close(): void {
    this.closing = true;
    this.child.stdin!.end();
  }
}

let helper: SpawnHelper | undefined;
let lostListener: (() => void) | undefined;
let unavailable = process.platform !== 'linux';
/** The helpers' pipe directories: normally empty (each pipe is unlinked once both ends are
 * open), removed when the agent exits. */
const directories = new Set<string>();

function startHelper(): SpawnHelper | undefined {
  if (unavailable) return undefined;
  const perl = onPath('perl', process.env.PATH);
  if (!perl) {
    unavailable = true;
    return undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), 'hodei-spawn-'));
  const child = spawn(perl, ['-e', SCRIPT, SPAWN_HELPER_NAME, dir], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { PATH: process.env.PATH ?? '' },
  });
  const started = new SpawnHelper(child, dir, () => {
    if (helper === started) helper = undefined;
  });
  if (directories.size === 0) {
    process.once('exit', () => {
      for (const each of directories) rmSync(each, { recursive: true, force: true });
    });
  }
  directories.add(dir);
  return started;
}

/**
 * Starts the helper ahead of the first job (perl takes ~10 ms to start): the agent calls this
 * while it registers. Harmless to call again.
 */
export function prepareSpawnHelper(): void {
  helper ??= startHelper();
}

/**
 * Called when a helper dies on its own (not closed by the agent), before its commands are
 * reported killed: the agent is crash-only, so it ends the worker and the job runs again
 * elsewhere rather than failing for something the job did not do.
 */
export function onSpawnHelperLost(listener: (() => void) | undefined): void {
  lostListener = listener;
}

/** For tests: whether commands go through the helper (true) or straight to spawn (false). */
export function useSpawnHelper(on: boolean): void {
  if (!on) {
    helper?.close();
    helper = undefined;
  }
  unavailable = !on;
}

/**
 * Starts `spec` through the helper, reporting to `events`; false when the helper cannot carry
 * it (no perl on this machine, or a NUL in the command), and the caller should spawn it itself.
 */
export function spawnThroughHelper(spec: HelperSpec, events: HelperEvents): boolean {
  if (!expressible(spec)) return false;
  helper ??= startHelper();
  if (!helper) return false;
  helper.run(spec, events);
  return true;
}
