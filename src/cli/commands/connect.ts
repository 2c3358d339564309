// What a client command needs once it runs, loaded on demand so that `hodei --help` and
// `hodei worker` do not pay for the RPC client and generated code at start-up.
import type { CliContext } from '../context.js';

export interface JsonFlag {
  json?: boolean;
}

/** Loads what a client command needs and connects (lazily: nothing is dialled until a call). */
export async function connect(ctx: CliContext) {
  const [client, parse, render, output] = await Promise.all([
    import('../client.js'),
    import('../parse.js'),
    import('../render.js'),
    import('../output.js'),
  ]);
  const rpc = client.connectTo(ctx.serverUrl(), { token: ctx.token(), ca: ctx.ca() });
  /** Runs one call; a failure becomes one sentence (`jobId` names the job a NotFound is about). */
  async function call<T>(body: () => Promise<T>, jobId?: string): Promise<T> {
    try {
      return await body();
    } catch (error) {
      throw client.explainRpcError(error, rpc, jobId);
    }
  }
  return { rpc, call, parse, render, output };
}
