// RPC clients for the CLI (gRPC over HTTP/2, which also carries WatchJob's server stream; over
// TLS for an https:// URL, verified with --ca/HODEI_CA or the system trust store), and the
// translation of any failed call into one sentence for the user.
import {
  Code,
  ConnectError,
  createClient,
  type Client,
  type Interceptor,
} from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { JobService } from '../gen/hodei/v1/job_pb.js';
import { OpsService } from '../gen/hodei/v1/ops_pb.js';
import { HodeiError } from '../shared/errors.js';
import { readPemFile } from '../shared/pem.js';
import { describeTlsFailure } from '../shared/tls-trust.js';
import { CliError, usageError } from './cli-error.js';
import type { CaFile } from './context.js';

export type JobClient = Client<typeof JobService>;

/** The server a call went to, for messages: its URL and the CA bundle that verifies it. */
export interface ServerRef {
  url: string;
  /** E.g. `--ca /etc/hodei/ca.pem`; undefined: the system trust store (or no TLS). */
  trust?: string;
}

export interface Rpc extends ServerRef {
  jobs: JobClient;
  ops: Client<typeof OpsService>;
}

export interface ConnectOptions {
  /** Sent as `authorization: Bearer <token>` on every call. */
  token?: string;
  /** Trusted instead of the system store for an https:// URL. */
  ca?: CaFile;
}

/** The PEM text of the CA bundle for an https:// URL (none for http://, whatever is set). */
function caFor(url: string, ca: CaFile | undefined): string | undefined {
  if (ca === undefined || !url.startsWith('https:')) return undefined;
  try {
    return readPemFile(ca.source, ca.file, 'certificate');
  } catch (error) {
    if (error instanceof HodeiError) throw usageError(error.message);
    throw error;
  }
}

export function connectTo(url: string, options: ConnectOptions = {}): Rpc {
  const { token } = options;
  const ca = caFor(url, options.ca);
  const withToken: Interceptor = (next) => (req) => {
    if (token !== undefined) req.header.set('authorization', `Bearer ${token}`);
    return next(req);
  };
  // connect-node 2's gRPC transport is HTTP/2 only (it has no httpVersion option).
  const transport = createGrpcTransport({
    baseUrl: url,
    interceptors: [withToken],
    ...(ca === undefined ? {} : { nodeOptions: { ca } }),
  });
  return {
    url,
    trust: ca === undefined ? undefined : `${options.ca?.source} ${options.ca?.file}`,
    jobs: createClient(JobService, transport),
    ops: createClient(OpsService, transport),
  };
}

const NETWORK_ERRORS =
  /\b(ECONNREFUSED|ECONNRESET|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|EAI_AGAIN|EPIPE)\b/;

/** True when the call failed because the server could not be reached (not because it said no). */
export function isUnreachable(error: ConnectError): boolean {
  const cause = error.cause as { code?: unknown } | undefined;
  const causeCode = typeof cause?.code === 'string' ? cause.code : '';
  return NETWORK_ERRORS.test(`${causeCode} ${error.rawMessage}`);
}

export function unreachableMessage(url: string): string {
  return `cannot reach the Hodei server at ${url}: is it running? (start it with "npx hodei dev")`;
}

/** One sentence for a failed call; `jobId` names the job a NotFound is about. */
export function explainRpcError(error: unknown, server: ServerRef, jobId?: string): CliError {
  if (error instanceof CliError) return error;
  const { url } = server;
  const tls = describeTlsFailure(error, url, server.trust);
  if (tls !== undefined) return new CliError(tls);
  const rpc = ConnectError.from(error);
  // Unavailable is the transport's code for a refused, reset or closed connection (the server
  // itself never answers a client call with it), so it reads as "not reachable" too.
  if (isUnreachable(rpc) || rpc.code === Code.Unavailable) {
    return new CliError(unreachableMessage(url));
  }
  switch (rpc.code) {
    case Code.NotFound:
      return new CliError(jobId === undefined ? rpc.rawMessage : `job ${jobId} not found`);
    case Code.DeadlineExceeded:
      return new CliError(`the Hodei server at ${url} did not answer in time`);
    case Code.Unimplemented:
      return new CliError(
        `the server at ${url} does not offer this call (is it a Hodei server of the same version?)`,
      );
    default:
      // InvalidArgument names the field; the others carry the server's own sentence.
      return new CliError(rpc.rawMessage || `the call failed (${Code[rpc.code]})`);
  }
}
