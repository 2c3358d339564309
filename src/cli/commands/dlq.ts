// `hodei dlq list|show|replay|discard`: the dead letters, events a consumer gave up on after
// HODEI_MAX_DELIVER deliveries (or the relay could not publish). A replay publishes the stored
// event again; replay and discard happen once per dead letter.
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { usageError } from '../cli-error.js';
import { collect } from './job-options.js';
import { connect, type JsonFlag } from './connect.js';

async function dlqContext(ctx: CliContext) {
  const [base, view] = await Promise.all([connect(ctx), import('../dead-letter-view.js')]);
  return { ...base, view };
}

export function registerDlq(program: Command, ctx: CliContext): void {
  const dlq = program
    .command('dlq')
    .description('list, show, replay and discard dead letters (events that failed every delivery)');

  dlq
    .command('list')
    .description('list dead letters, newest first (PENDING ones unless --state or --all)')
    .option('--consumer <name>', 'only the dead letters of this consumer')
    .option('--state <state>', 'PENDING, REPLAYED or DISCARDED (repeatable)', collect)
    .option('--all', 'every state')
    .option('--limit <n>', 'dead letters per page (default 50, at most 500)')
    .option('--page-token <token>', 'the next page, from a previous list')
    .option('--json', 'print {"deadLetters":[…],"nextPageToken"} as JSON ("" on the last page)')
    .action(
      async (
        flags: {
          consumer?: string;
          state?: string[];
          all?: boolean;
          limit?: string;
          pageToken?: string;
        } & JsonFlag,
      ) => {
        const { rpc, call, parse, output, view } = await dlqContext(ctx);
        if (flags.all && flags.state) {
          throw usageError('--all and --state cannot be used together: give one or the other');
        }
        const states = flags.all
          ? view.ALL_DEAD_LETTER_STATES
          : view.parseDeadLetterStates(flags.state ?? []);
        const pageSize = parse.parseCount('--limit', flags.limit, { min: 1, max: 500 }) ?? 0;
        const page = await call(() =>
          rpc.ops.listDeadLetters({
            states,
            consumer: flags.consumer ?? '',
            pageSize,
            pageToken: flags.pageToken ?? '',
          }),
        );
        const views = page.deadLetters.map(view.deadLetterView);
        if (flags.json) {
          return output.printJson({ deadLetters: views, nextPageToken: page.nextPageToken });
        }
        if (views.length === 0) return output.out('no dead letters');
        output.printTable(view.DEAD_LETTER_TABLE_HEADER, views.map(view.deadLetterRow));
        if (page.nextPageToken) output.say(`more: --page-token ${page.nextPageToken}`);
      },
    );

  dlq
    .command('show')
    .argument('<id>', 'dead letter id (from hodei dlq list)')
    .description('show one dead letter: its error and the stored event')
    .option('--json', 'print the dead letter with its headers and payload as JSON')
    .action(async (id: string, flags: JsonFlag) => {
      const { rpc, call, output, view } = await dlqContext(ctx);
      const deadLetterId = view.parseDeadLetterId(id);
      const { deadLetter } = await call(() => rpc.ops.getDeadLetter({ id: deadLetterId }));
      if (!deadLetter) throw new Error('the server answered GetDeadLetter without a dead letter');
      if (flags.json) return output.printJson(view.storedDeadLetterView(deadLetter));
      const headers = Object.entries(deadLetter.headers).map(([k, v]): [string, string] => [
        `  ${k}`,
        v,
      ]);
      output.printFields(view.deadLetterFields(view.deadLetterView(deadLetter)));
      if (headers.length > 0) {
        output.out('headers:');
        output.printFields(headers);
      }
      output.out('payload:');
      output.out(view.payloadText(deadLetter.payload));
    });

  dlq
    .command('replay')
    .argument('<id>', 'dead letter id (from hodei dlq list)')
    .description('publish the stored event again, once (after fixing what made it fail)')
    .option('--json', 'print {"deadLetter":{…},"messageId"} as JSON')
    .action(async (id: string, flags: JsonFlag) => {
      const { rpc, call, output, view } = await dlqContext(ctx);
      const deadLetterId = view.parseDeadLetterId(id);
      const replayed = await call(() => rpc.ops.replayDeadLetter({ id: deadLetterId }));
      if (!replayed.deadLetter) throw new Error('the server answered ReplayDeadLetter without one');
      const after = view.deadLetterView(replayed.deadLetter);
      if (flags.json) return output.printJson({ deadLetter: after, messageId: replayed.messageId });
      const to = after.consumer === 'outbox-relay' ? 'every consumer' : after.consumer;
      output.out(
        `dead letter ${after.id} replayed: ${after.eventType ?? 'event'} ${after.eventId} published again for ${to}`,
      );
    });

  dlq
    .command('discard')
    .argument('<id>', 'dead letter id (from hodei dlq list)')
    .description('keep a dead letter but stop counting it (hidden from hodei dlq list), once')
    .option('--reason <text>', 'why, kept with the dead letter')
    .option('--json', 'print the dead letter as JSON')
    .action(async (id: string, flags: { reason?: string } & JsonFlag) => {
      const { rpc, call, output, view } = await dlqContext(ctx);
      const deadLetterId = view.parseDeadLetterId(id);
      const { deadLetter } = await call(() =>
        rpc.ops.discardDeadLetter({ id: deadLetterId, reason: flags.reason ?? '' }),
      );
      if (!deadLetter) throw new Error('the server answered DiscardDeadLetter without one');
      const after = view.deadLetterView(deadLetter);
      if (flags.json) return output.printJson(after);
      output.out(`dead letter ${after.id} discarded`);
    });
}
