// `hodei workers list`: every worker the server knows, with its state and current job.
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { connect, type JsonFlag } from './connect.js';

export function registerWorkers(program: Command, ctx: CliContext): void {
  program
    .command('workers')
    .description('inspect workers')
    .command('list')
    .description('list workers')
    .option('--json', 'print {"workers":[…]} as JSON')
    .action(async (flags: JsonFlag) => {
      const { rpc, call, render, output } = await connect(ctx);
      const { workers } = await call(() => rpc.ops.listWorkers({}));
      const views = workers.map(render.workerView);
      if (flags.json) return output.printJson({ workers: views });
      if (views.length === 0) return output.out('no workers');
      output.printTable(
        ['ID', 'STATE', 'PROVIDER', 'EXTERNAL ID', 'JOBS RUN', 'CURRENT JOB', 'LAST HEARTBEAT'],
        views.map((w) => [
          w.id,
          w.state,
          w.provider,
          w.externalId ?? '-',
          String(w.jobsRun),
          w.currentJobId ?? '-',
          w.lastHeartbeatAt ?? '-',
        ]),
      );
    });
}
