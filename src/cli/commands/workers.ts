// `hodei workers list`.
import type { Command } from 'commander';
import { clients, explain } from '../client.js';
import { json, table } from '../output.js';
import { workerView } from '../parse.js';

export function registerWorkers(program: Command, url: () => string): void {
  program
    .command('workers')
    .description('inspect workers')
    .command('list')
    .description('list workers, live ones first')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }) => {
      const c = clients(url());
      let workers;
      try {
        ({ workers } = await c.ops.listWorkers({}));
      } catch (error) {
        throw explain(error, c.url);
      }
      const views = workers.map(workerView);
      if (flags.json) return json({ workers: views });
      table(
        ['ID', 'STATE', 'PROVIDER', 'EXTERNAL ID', 'JOBS', 'CURRENT JOB'],
        views.map((w) => [
          w.id,
          w.state,
          w.provider,
          w.externalId,
          String(w.jobsRun),
          w.currentJobId ?? '-',
        ]),
      );
    });
}
