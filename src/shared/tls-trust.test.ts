// A failed handshake reads as a sentence saying what to change: trust the server's CA, use a name
// its certificate lists, renew it, or drop https:// for a server without TLS.
import { describe, expect, it } from 'vitest';
import { describeTlsFailure } from './tls-trust.js';

const URL = 'https://127.0.0.1:50051';

/** An error as connect-node reports it: its own, with Node's error as the cause. */
function rpcError(code: string, message: string): Error {
  const cause = Object.assign(new Error(message), { code });
  return new Error(`[unavailable] ${message}`, { cause });
}

describe('describeTlsFailure', () => {
  it('says which CA bundle did not vouch for the server and how to give the right one', () => {
    const error = rpcError(
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      'unable to verify the first certificate',
    );
    expect(describeTlsFailure(error, URL)).toBe(
      'the server at https://127.0.0.1:50051 presented a certificate this client does not trust (unable to verify the first certificate; trusted: the system trust store): give the CA that signed it with --ca FILE or HODEI_CA',
    );
    const self = rpcError(
      'SELF_SIGNED_CERT_IN_CHAIN',
      'self-signed certificate in certificate chain',
    );
    expect(describeTlsFailure(self, URL, '--ca /etc/ca.pem')).toMatch(
      /\(self-signed certificate in certificate chain; trusted: --ca \/etc\/ca\.pem\): give the CA/,
    );
  });

  it('tells a wrong name, an out-of-date certificate and a server without TLS apart', () => {
    const name = rpcError('ERR_TLS_CERT_ALTNAME_INVALID', "IP: 10.0.0.1 is not in the cert's list");
    expect(describeTlsFailure(name, URL)).toMatch(/is not for this address \(IP: 10\.0\.0\.1/);
    const expired = rpcError('CERT_HAS_EXPIRED', 'certificate has expired');
    expect(describeTlsFailure(expired, URL)).toMatch(/not valid now \(certificate has expired\)/);
    const plain = rpcError('ERR_SSL_WRONG_VERSION_NUMBER', 'ssl3_get_record:wrong version number');
    expect(describeTlsFailure(plain, URL)).toBe(
      'the server at https://127.0.0.1:50051 does not speak TLS: use http:// for a server started without --tls-cert',
    );
  });

  it('leaves every other failure to the caller', () => {
    expect(
      describeTlsFailure(rpcError('ECONNREFUSED', 'connect ECONNREFUSED'), URL),
    ).toBeUndefined();
    expect(describeTlsFailure('not an error', URL)).toBeUndefined();
  });
});
