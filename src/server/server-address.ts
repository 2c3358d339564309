// The address this server gives out: in its start line, to the CLI's hints and to the workers it
// starts (HODEI_URL). https:// when it serves TLS. A server listening on every interface is
// reached on this machine through 127.0.0.1, so that is what the workers dial, and what its
// certificate must name for them.
import type { ServerConfig } from '../config/config.js';
import { certificateProblems } from '../config/tls-settings.js';

/** The host local clients and workers dial for a server listening on `host`. */
export function dialHost(host: string): string {
  return host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
}

export function serverAddress(config: Pick<ServerConfig, 'host' | 'tls'>, port: number): string {
  const host = dialHost(config.host);
  const scheme = config.tls ? 'https' : 'http';
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** What would make the workers (or local clients) refuse this server's certificate. */
export function certificateWarnings(config: Pick<ServerConfig, 'host' | 'tls'>): string[] {
  if (!config.tls) return [];
  return certificateProblems(config.tls.cert, dialHost(config.host), new Date());
}
