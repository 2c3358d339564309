// What every command gets from the top-level program: the server address (--url, else
// HODEI_URL, else the local default), the API token (--token, else HODEI_TOKEN) and the CA bundle
// that verifies an https:// server (--ca, else HODEI_CA). Kept free of heavy imports: it loads on
// every start.
import { usageError } from './cli-error.js';

export const DEFAULT_URL = 'http://127.0.0.1:50051';

export interface CliContext {
  /** The --url flag or HODEI_URL, validated; undefined when neither is given. */
  givenUrl(): string | undefined;
  /** The given address, else the default. */
  serverUrl(): string;
  /** The API token to send (--token, else HODEI_TOKEN), if any. */
  token(): string | undefined;
  /** The CA bundle (PEM file) to verify the server with (--ca, else HODEI_CA), and where it was
   * given; undefined: the system trust store. */
  ca(): CaFile | undefined;
}

export interface CaFile {
  file: string;
  /** `--ca` or `HODEI_CA`, for messages. */
  source: string;
}

/** Checks an address is an http(s) URL and drops a trailing slash. */
export function normaliseUrl(raw: string, source: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw usageError(`${source}: "${raw}" is not a URL such as ${DEFAULT_URL}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw usageError(`${source}: "${raw}" must start with http:// or https://`);
  }
  return raw.replace(/\/+$/, '');
}

export function createContext(
  flag: () => string | undefined,
  env: Record<string, string | undefined>,
  tokenFlag: () => string | undefined = () => undefined,
  caFlag: () => string | undefined = () => undefined,
): CliContext {
  const givenUrl = () => {
    const fromFlag = flag();
    if (fromFlag !== undefined) return normaliseUrl(fromFlag, '--url');
    const fromEnv = env.HODEI_URL?.trim();
    return fromEnv ? normaliseUrl(fromEnv, 'HODEI_URL') : undefined;
  };
  const token = () => {
    const given = (tokenFlag() ?? env.HODEI_TOKEN ?? '').trim();
    return given === '' ? undefined : given;
  };
  const ca = (): CaFile | undefined => {
    const fromFlag = caFlag();
    if (fromFlag !== undefined) {
      if (fromFlag.trim() === '') throw usageError('--ca must name a PEM file');
      return { file: fromFlag.trim(), source: '--ca' };
    }
    const fromEnv = env.HODEI_CA?.trim();
    return fromEnv ? { file: fromEnv, source: 'HODEI_CA' } : undefined;
  };
  return { givenUrl, serverUrl: () => givenUrl() ?? DEFAULT_URL, token, ca };
}
