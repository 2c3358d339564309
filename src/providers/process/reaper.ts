// The per-worker reaper: a few lines of perl that start the worker agent and make sure nothing a
// job starts outlives the worker (issue 7 item 8, docs/decisions/0005-job-containment.md).
// It declares itself a child subreaper (prctl PR_SET_CHILD_SUBREAPER), so every process that is
// orphaned below it — a job's `sleep &`, a `setsid` or double-forked daemon, with or without
// its environment — is reparented to the reaper instead of to init, where it can still be found.
// The agent kills those orphans after each job (agent/job-containment.ts); when the agent itself
// ends, the reaper kills whatever is left and exits with the agent's status.
// Why perl: perl-base is an essential Debian package (present wherever Debian or Ubuntu is), it
// can make the prctl system call through `syscall`, and it starts in ~9 ms; Node cannot call
// prctl, and a compiled helper would need a build step.
import { spawnSync } from 'node:child_process';
import { onPath } from '../../shared/on-path.js';
import { REAPER_PID_VARIABLE, REAPER_SUBREAPER_VARIABLE } from '../../shared/reaper-env.js';

/** The name in the reaper's messages and on its command line: how destroy recognises one. */
export const REAPER_NAME = 'hodei-reaper';

// argv: <prctl syscall number, 0 if unknown> <worker argv…>. Whole-line comments are stripped
// before it is put on the command line (reaperArgv), so they cost nothing at run time.
const SCRIPT = `
use strict;
# Not $0: setting it overwrites /proc/<pid>/environ, where destroy finds HODEI_WORKER_ID.
my $name = '${REAPER_NAME}';
my $nr = shift @ARGV;
# prctl(PR_SET_CHILD_SUBREAPER = 36, 1): orphans below us are reparented to us, not to init.
my $subreaper = $nr > 0 && syscall($nr, 36, 1, 0, 0, 0) == 0;
warn "$name: PR_SET_CHILD_SUBREAPER failed (" . ($nr > 0 ? $! : 'unknown architecture') . "); processes a job leaves behind may escape\\n" unless $subreaper;
$ENV{${REAPER_PID_VARIABLE}} = $$;
$ENV{${REAPER_SUBREAPER_VARIABLE}} = $subreaper ? '1' : '0';
# A stop request (destroy sends SIGTERM) kills the worker at once: workers are crash-only.
my ($worker, $stop) = (0, 0);
sub stop { $stop = 1; kill 'KILL', $worker if $worker > 0 }
$SIG{$_} = \\&stop for qw(TERM INT HUP);
$worker = fork;
die "$name: fork failed: $!\\n" unless defined $worker;
if ($worker == 0) {
  $SIG{$_} = 'DEFAULT' for qw(TERM INT HUP);
# prctl(PR_SET_PDEATHSIG = 1, SIGKILL = 9): should the reaper be SIGKILLed, the agent dies too.
  syscall($nr, 1, 9, 0, 0, 0) if $nr > 0;
  exec { $ARGV[0] } @ARGV;
  warn "$name: cannot run $ARGV[0]: $!\\n";
  exit 127;
}
kill 'KILL', $worker if $stop;
# The worker has stdin (its one-time password); the reaper needs none.
close STDIN;
# Reap every child that dies (reparented orphans too, so no zombie piles up) until the worker goes.
my $status;
while (1) {
  my $pid = waitpid(-1, 0);
  if ($pid == $worker) { $status = $?; last }
# EINTR (4): a stop signal arrived; waiting goes on until the killed worker is reaped.
  next if $pid < 0 && $! == 4;
  if ($pid < 0) { $status = 255 << 8; last }
}
# Kill every descendant still there, round after round: a killed process's children come to us.
for my $round (1 .. 50) {
  my @left = descendants();
  last unless @left;
  kill 'KILL', @left;
# 1 = WNOHANG
  1 while waitpid(-1, 1) > 0;
  select(undef, undef, undef, 0.01);
}
exit($status & 127 ? 128 + ($status & 127) : $status >> 8);
# Our descendants, from the ppid links in /proc/*/stat ("pid (comm) state ppid …").
sub descendants {
  my %kids;
  for my $file (glob '/proc/[0-9]*/stat') {
    open(my $fh, '<', $file) or next;
    my $line = <$fh>;
    push @{ $kids{$2} }, $1 if defined $line && $line =~ /^(\\d+) \\(.*\\) \\S+ (\\d+) /s;
  }
  my @found;
  my @todo = ($$);
  while (@todo) { my $kids = $kids{ shift @todo } or next; push @found, @$kids; push @todo, @$kids }
  return @found;
}
`;

/** The script as it goes on the command line: whole-line comments and indentation removed. */
export const REAPER_SCRIPT = SCRIPT.split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'))
  .join('\n');

/**
 * prctl's system call number for a perl `archname` (perl's own ABI, which is what `syscall`
 * uses: an i386 perl on an x86_64 kernel needs 172, not 157). From the kernel's syscall tables:
 * x86_64 157; the generic table (aarch64, riscv64, loongarch64) 167; i386, arm (EABI) and s390
 * 172; powerpc 171. Undefined elsewhere (x32, mips, …): the reaper then runs without it.
 */
export function prctlSyscallNumber(archname: string): number | undefined {
  if (/^x86_64-linux/.test(archname)) return archname.includes('x32') ? undefined : 157;
  if (/^(aarch64|riscv64|loongarch64)-linux/.test(archname)) return 167;
  if (/^(i[3-6]86|arm|s390x?)-linux/.test(archname)) return 172;
  if (/^(powerpc|ppc)(64)?(le)?-linux/.test(archname)) return 171;
  return undefined;
}

export interface Reaper {
  /** Absolute path of perl. */
  perl: string;
  /** prctl's syscall number for that perl; 0 when unknown (the reaper warns and goes on). */
  prctl: number;
}

/**
 * Finds perl and its architecture, once, when the provider is made (one ~15 ms run of perl).
 * Returns a reason instead when the reaper cannot be used: not Linux, or no working perl.
 */
export function findReaper(path = process.env.PATH): Reaper | { unavailable: string } {
  if (process.platform !== 'linux') {
    return { unavailable: `${process.platform} has no child subreaper` };
  }
  const perl = onPath('perl', path);
  if (!perl) return { unavailable: 'perl is not on PATH' };
  const probe = spawnSync(perl, ['-MConfig', '-e', 'print $Config{archname}'], {
    encoding: 'utf8',
    timeout: 5000,
  });
  if (probe.status !== 0) {
    return { unavailable: `${perl} does not run (${probe.error?.message ?? probe.stderr.trim()})` };
  }
  return { perl, prctl: prctlSyscallNumber(probe.stdout.trim()) ?? 0 };
}

/** Whether a command line (the NUL-split /proc/<pid>/cmdline) is a reaper's. */
export function isReaperCommandLine(argv: readonly string[]): boolean {
  return argv[1] === '-e' && (argv[2] ?? '').includes(`my $name = '${REAPER_NAME}';`);
}

/** The program and arguments that start `worker` (an argv) under the reaper. */
export function reaperArgv(reaper: Reaper, worker: readonly string[]): [string, string[]] {
  return [reaper.perl, ['-e', REAPER_SCRIPT, '--', String(reaper.prctl), ...worker]];
}
