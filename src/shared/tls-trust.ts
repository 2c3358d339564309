// A failed TLS handshake as one sentence for whoever dialled (the CLI, a worker): the server's
// certificate not trusted, not for this address, out of date, or a server that does not speak
// TLS at all. Node reports these as error codes somewhere down the cause chain of the RPC error.

/** Node/OpenSSL codes for a certificate chain the client's CA bundle does not vouch for. */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REJECTED',
]);
const OUT_OF_DATE = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

interface Failure {
  code: string;
  message: string;
}

function causes(error: unknown): Failure[] {
  const chain: Failure[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    chain.push({ code: typeof code === 'string' ? code : '', message: current.message });
    current = current.cause;
  }
  return chain;
}

/**
 * The sentence for a TLS failure in `error` (undefined when it is not one). `ca` names the CA
 * bundle the client used (e.g. `--ca /etc/hodei/ca.pem`), undefined for the system trust store.
 */
export function describeTlsFailure(error: unknown, url: string, ca?: string): string | undefined {
  const chain = causes(error);
  const trustedBy = ca === undefined ? 'the system trust store' : ca;
  const untrusted = chain.find((f) => UNTRUSTED.has(f.code));
  if (untrusted) {
    return `the server at ${url} presented a certificate this client does not trust (${untrusted.message}; trusted: ${trustedBy}): give the CA that signed it with --ca FILE or HODEI_CA`;
  }
  const outOfDate = chain.find((f) => OUT_OF_DATE.has(f.code));
  if (outOfDate) {
    return `the server at ${url} presented a certificate that is not valid now (${outOfDate.message}): the server needs a current certificate`;
  }
  const altName = chain.find((f) => f.code === 'ERR_TLS_CERT_ALTNAME_INVALID');
  if (altName) {
    return `the certificate of the server at ${url} is not for this address (${altName.message}): dial a name the certificate lists, or give the server a certificate for this one`;
  }
  const notTls = chain.find((f) => /wrong version number|packet length too long/i.test(f.message));
  if (notTls && url.startsWith('https:')) {
    return `the server at ${url} does not speak TLS: use http:// for a server started without --tls-cert`;
  }
  return undefined;
}
