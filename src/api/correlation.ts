// Correlation ids: taken from the request field, else the x-correlation-id header, else made.
import { newId } from '../shared/ids.js';
import { validateKey } from '../jobs/validate-job-spec.js';

export const CORRELATION_METADATA = 'x-correlation-id';

export function resolveCorrelationId(fromRequest: string, headers: Headers): string {
  const chosen = fromRequest || headers.get(CORRELATION_METADATA) || '';
  return chosen ? validateKey('correlation_id', chosen) : newId();
}
