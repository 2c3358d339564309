// `hodei trace JOB_ID|CORRELATION_ID`: one timeline of everything recorded about a job — its
// attempts, sagas with their steps and waits, workers, events and dead letters — from the
// database through OpsService.GetTrace (admin), so it needs no tracing backend.
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import type { JsonFlag } from './connect.js';
import { connect } from './connect.js';

export function registerTrace(program: Command, ctx: CliContext): void {
  program
    .command('trace')
    .argument('<id>', 'a job id, or a correlation id (every job queued under it)')
    .description("show a job's whole story on one time axis: attempts, sagas, workers, events")
    .option('--json', 'print the trace as JSON (times also as milliseconds from the queueing)')
    .action(async (id: string, flags: JsonFlag) => {
      const [{ rpc, call, output }, view] = await Promise.all([
        connect(ctx),
        import('../trace-view.js'),
      ]);
      const trace = view.traceView(await call(() => rpc.ops.getTrace({ id })));
      if (flags.json) return output.printJson(trace);
      for (const line of view.traceText(trace)) output.out(line);
    });
}
