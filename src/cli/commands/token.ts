// `hodei token create|list|revoke`: API tokens. Through the server (OpsService, an admin token)
// or, to make the first admin token, on the database directly: with --database-url or --data-dir,
// or HODEI_DATABASE_URL when no server address is given (no server needed; an embedded data
// directory must not be in use by a running server).
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { CliError, usageError } from '../cli-error.js';
import { connect, type JsonFlag } from './connect.js';

interface TokenView {
  name: string;
  scopes: string[];
  createdAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

interface TokenStore {
  create(name: string, scopes: string[]): Promise<{ token: string; view: TokenView }>;
  list(): Promise<TokenView[]>;
  revoke(name: string): Promise<TokenView>;
  close(): Promise<void>;
}

interface WhereFlags {
  databaseUrl?: string;
  dataDir?: string;
}

function where(command: Command): Command {
  return command
    .option('--database-url <url>', 'work on this PostgreSQL database directly (no server)')
    .option('--data-dir <dir>', 'work on this embedded data directory directly (server stopped)');
}

/** On the database itself: the way to make the first admin token. */
async function databaseStore(
  flags: WhereFlags,
  databaseUrl: string | undefined,
): Promise<TokenStore> {
  const [
    { loadServerConfig },
    { openDatabase },
    { migrate },
    { createLogger },
    tokens,
    api,
    clock,
    errors,
  ] = await Promise.all([
    import('../../config/config.js'),
    import('../../server/adapters.js'),
    import('../../db/migrate.js'),
    import('../../shared/logger.js'),
    import('../../auth/api-tokens.js'),
    import('../../auth/api-token.js'),
    import('../../shared/clock.js'),
    import('../../shared/errors.js'),
  ]);
  const config = loadServerConfig(
    {},
    {
      databaseUrl,
      ...(flags.dataDir === undefined ? {} : { dataDir: flags.dataDir }),
    },
  );
  const logger = createLogger({ level: 'warn' });
  const view = (r: {
    name: string;
    scopes: string[];
    createdAt: Date;
    lastUsedAt: Date | null;
    revokedAt: Date | null;
  }): TokenView => ({
    name: r.name,
    scopes: r.scopes,
    createdAt: r.createdAt.toISOString(),
    lastUsedAt: r.lastUsedAt?.toISOString() ?? null,
    revokedAt: r.revokedAt?.toISOString() ?? null,
  });
  let db;
  try {
    db = await openDatabase(config, logger);
    await migrate(db);
  } catch (error) {
    await db?.close();
    const where = databaseUrl ? 'the database' : `the data directory ${config.dataDir}`;
    throw new CliError(`cannot open ${where}: ${errors.errorMessage(error)}`);
  }
  const store = tokens.createApiTokens({ db, clock: clock.systemClock });
  const mapped = async <T>(body: () => Promise<T>) => {
    try {
      return await body();
    } catch (error) {
      if (error instanceof errors.HodeiError) throw new CliError(error.message);
      throw error;
    }
  };
  return {
    create: (name, scopes) =>
      mapped(async () => {
        const { token, record } = await store.create(name, api.parseScopes(scopes));
        return { token, view: view(record) };
      }),
    list: () => mapped(async () => (await store.list()).map(view)),
    revoke: (name) => mapped(async () => view(await store.revoke(name))),
    close: () => db.close(),
  };
}

/** Through the server's OpsService (needs an admin token when auth is on). */
async function serverStore(ctx: CliContext): Promise<TokenStore> {
  const { rpc, call, render } = await connect(ctx);
  const view = (t: {
    name: string;
    scopes: string[];
    createdAt?: Parameters<typeof render.isoTime>[0];
    lastUsedAt?: Parameters<typeof render.isoTime>[0];
    revokedAt?: Parameters<typeof render.isoTime>[0];
  }): TokenView => ({
    name: t.name,
    scopes: t.scopes,
    createdAt: render.isoTime(t.createdAt),
    lastUsedAt: render.isoTime(t.lastUsedAt),
    revokedAt: render.isoTime(t.revokedAt),
  });
  return {
    async create(name, scopes) {
      const res = await call(() => rpc.ops.createApiToken({ name, scopes }));
      return { token: res.token, view: view(res.apiToken ?? { name, scopes }) };
    },
    list: async () => (await call(() => rpc.ops.listApiTokens({}))).apiTokens.map(view),
    revoke: async (name) => {
      const res = await call(() => rpc.ops.revokeApiToken({ name }));
      return view(res.apiToken ?? { name, scopes: [] });
    },
    close: () => Promise.resolve(),
  };
}

async function openStore(ctx: CliContext, flags: WhereFlags): Promise<TokenStore> {
  if (flags.databaseUrl !== undefined && flags.dataDir !== undefined) {
    throw usageError('give --database-url or --data-dir, not both');
  }
  if (flags.databaseUrl !== undefined) return databaseStore(flags, flags.databaseUrl);
  if (flags.dataDir !== undefined) return databaseStore(flags, undefined);
  const fromEnv = process.env.HODEI_DATABASE_URL?.trim();
  if (fromEnv && ctx.givenUrl() === undefined) return databaseStore(flags, fromEnv);
  return serverStore(ctx);
}

async function withStore<T>(
  ctx: CliContext,
  flags: WhereFlags,
  body: (s: TokenStore) => Promise<T>,
) {
  const store = await openStore(ctx, flags);
  try {
    return await body(store);
  } finally {
    await store.close();
  }
}

export function registerToken(program: Command, ctx: CliContext): void {
  const token = program
    .command('token')
    .description('API tokens: who may call the server, with which scopes');

  where(
    token
      .command('create')
      .description('make a token and print it (only now: the server keeps only its hash)')
      .requiredOption('--name <name>', 'a name for it (a-z, 0-9, . _ -), never reused')
      .option(
        '--scope <scope>',
        'submit (queue; read and cancel its own jobs), read (every job), cancel (any job), admin (everything); repeat or use commas',
        (value: string, previous: string[] = []) => [...previous, value],
      )
      .option('--json', 'print {"token":…,"name":…,"scopes":[…]} as JSON'),
  ).action(async (flags: WhereFlags & JsonFlag & { name: string; scope?: string[] }) => {
    if (!flags.scope || flags.scope.length === 0) {
      throw usageError('--scope is required: submit, read, cancel or admin');
    }
    const output = await import('../output.js');
    const { token: secret, view } = await withStore(ctx, flags, (s) =>
      s.create(flags.name, flags.scope ?? []),
    );
    if (flags.json) return output.printJson({ token: secret, ...view });
    output.out(secret);
    output.say(
      `token "${view.name}" (${view.scopes.join(', ')}) created; it is shown only now: keep it in a secret store, pass it as HODEI_TOKEN`,
    );
  });

  where(
    token
      .command('list')
      .description('list tokens (revoked ones too); never the tokens themselves')
      .option('--json', 'print {"tokens":[…]} as JSON'),
  ).action(async (flags: WhereFlags & JsonFlag) => {
    const output = await import('../output.js');
    const views = await withStore(ctx, flags, (s) => s.list());
    if (flags.json) return output.printJson({ tokens: views });
    if (views.length === 0) return output.out('no tokens');
    output.printTable(
      ['NAME', 'SCOPES', 'CREATED', 'LAST USED', 'REVOKED'],
      views.map((v) => [
        v.name,
        v.scopes.join(','),
        v.createdAt ?? '-',
        v.lastUsedAt ?? '-',
        v.revokedAt ?? '-',
      ]),
    );
  });

  where(
    token
      .command('revoke')
      .description('revoke a token: calls with it are refused (within 5 s on other servers)')
      .argument('<name>', 'the token name'),
  ).action(async (name: string, flags: WhereFlags) => {
    const output = await import('../output.js');
    const view = await withStore(ctx, flags, (s) => s.revoke(name));
    output.out(`token "${view.name}" revoked at ${view.revokedAt ?? '?'}`);
  });
}
