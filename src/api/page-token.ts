// Opaque page tokens: ListJobs (the id of the last job returned) and ListDeadLetters.
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

/** ListDeadLetters' token: the id of the last dead letter returned (the next page is below it). */
export function encodeDeadLetterPageToken(lastId: number): string {
  return Buffer.from(`dl:${lastId}`).toString('base64url');
}

/** Returns the id the page starts below, or undefined for the first page. */
export function decodeDeadLetterPageToken(token: string): number | undefined {
  if (token === '') return undefined;
  const match = /^dl:(\d{1,15})$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
  if (!match?.[1]) {
    throw new InvalidArgumentError('page_token', 'is not a token returned by ListDeadLetters');
  }
  return Number(match[1]);
}
