// Connect clients for the CLI, and the translation of RPC failures into one clear sentence.
import { Code, ConnectError, createClient, type Client } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { JobService } from '../gen/hodei/v1/job_pb.js';
import { OpsService } from '../gen/hodei/v1/worker_pb.js';
import { CliError } from './output.js';

export const DEFAULT_URL = 'http://127.0.0.1:50051';

export interface Clients {
  url: string;
  jobs: Client<typeof JobService>;
  ops: Client<typeof OpsService>;
}

export function clients(url: string): Clients {
  let transport;
  try {
    transport = createGrpcTransport({ baseUrl: new URL(url).toString().replace(/\/$/, '') });
  } catch {
    throw new CliError(`--url: "${url}" is not a URL such as http://127.0.0.1:50051`, 2);
  }
  return {
    url,
    jobs: createClient(JobService, transport),
    ops: createClient(OpsService, transport),
  };
}

/** One sentence for any failure of a call to the server. */
export function explain(error: unknown, url: string): CliError {
  if (error instanceof CliError) return error;
  const connect = ConnectError.from(error);
  if (
    connect.code === Code.Unavailable ||
    /ECONNREFUSED|ECONNRESET|ENOTFOUND|EHOSTUNREACH/.test(
      connect.rawMessage + String(connect.cause),
    )
  ) {
    return new CliError(
      `cannot reach the Hodei server at ${url}: is it running? (start it with "npx hodei dev")`,
    );
  }
  return new CliError(`hodei: ${connect.rawMessage}`);
}
