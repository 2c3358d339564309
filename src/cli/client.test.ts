// A failed RPC becomes one sentence for the user: the server's own words for NotFound and
// InvalidArgument, the "cannot reach" hint when there is no server to talk to.
import { Code, ConnectError } from '@connectrpc/connect';
import { describe, expect, it } from 'vitest';
import { CliError, EXIT_ERROR } from './cli-error.js';
import { explainRpcError, unreachableMessage } from './client.js';

const URL = 'http://127.0.0.1:1';
const SERVER = { url: URL };

describe('explainRpcError', () => {
  it('passes on the server message for InvalidArgument and NotFound', () => {
    const invalid = explainRpcError(
      new ConnectError('spec.command: must not be empty', Code.InvalidArgument),
      SERVER,
    );
    expect(invalid.message).toBe('spec.command: must not be empty');
    expect(invalid.exitCode).toBe(EXIT_ERROR);
    const missing = explainRpcError(new ConnectError('job x not found', Code.NotFound), SERVER);
    expect(missing.message).toBe('job x not found');
  });

  it('names the job a NotFound is about when the caller knows it', () => {
    const err = explainRpcError(new ConnectError('not found', Code.NotFound), SERVER, 'j-1');
    expect(err.message).toBe('job j-1 not found');
  });

  it('says the server cannot be reached for a refused connection or Unavailable', () => {
    const refused = new ConnectError('connect ECONNREFUSED 127.0.0.1:1', Code.Unknown);
    expect(explainRpcError(refused, SERVER).message).toBe(unreachableMessage(URL));
    const closed = new ConnectError('http/2 stream closed', Code.Unavailable);
    expect(explainRpcError(closed, SERVER).message).toBe(unreachableMessage(URL));
    expect(unreachableMessage(URL)).toBe(
      'cannot reach the Hodei server at http://127.0.0.1:1: is it running? (start it with "npx hodei dev")',
    );
  });

  it('says a certificate is not trusted, naming the CA bundle used, before "cannot reach"', () => {
    const cause = Object.assign(new Error('self-signed certificate in certificate chain'), {
      code: 'SELF_SIGNED_CERT_IN_CHAIN',
    });
    const failed = new ConnectError('self-signed certificate', Code.Unavailable, {}, [], cause);
    const server = { url: 'https://127.0.0.1:1', trust: '--ca /tmp/other.pem' };
    expect(explainRpcError(failed, server).message).toBe(
      'the server at https://127.0.0.1:1 presented a certificate this client does not trust (self-signed certificate in certificate chain; trusted: --ca /tmp/other.pem): give the CA that signed it with --ca FILE or HODEI_CA',
    );
  });

  it('leaves a CliError as it is and gives any other failure a sentence', () => {
    const usage = new CliError('--env expects KEY=VALUE', 2);
    expect(explainRpcError(usage, SERVER)).toBe(usage);
    expect(explainRpcError(new ConnectError('', Code.Internal), SERVER).message).toBe(
      'the call failed (Internal)',
    );
  });
});
