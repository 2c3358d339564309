// Opaque page tokens for ListJobs: the id of the last job returned.
import { InvalidArgumentError } from '../shared/errors.js';
import { isUuid } from '../shared/ids.js';

export function encodePageToken(lastJobId: string): string {
  return Buffer.from(lastJobId).toString('base64url');
}

/** Returns the job id the page starts after, or undefined for the first page. */
export function decodePageToken(token: string): string | undefined {
  if (token === '') return undefined;
  const id = Buffer.from(token, 'base64url').toString('utf8');
  if (!isUuid(id))
    throw new InvalidArgumentError('page_token', 'is not a token returned by ListJobs');
  return id;
}
