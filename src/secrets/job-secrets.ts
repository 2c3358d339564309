// A job's secret values for its run: read the sealed row and open it with the server's key. The
// only place values are decrypted (the ExecutionSaga's SendRunJobCommand, just before the RUN).
import type { Queryable } from '../db/db.js';
import { SecretsUnreadableError } from '../shared/errors.js';
import { findJobSecrets } from './job-secrets-sql.js';
import type { SecretBox } from './secret-box.js';

/** The job's secret values ({} when it has none); SecretsUnreadableError when they were sealed
 * under another key, altered, or are gone. */
export async function openJobSecrets(
  q: Queryable,
  box: SecretBox,
  job: { id: string; secretNames: readonly string[] },
): Promise<Record<string, string>> {
  if (job.secretNames.length === 0) return {};
  const sealed = await findJobSecrets(q, job.id);
  if (!sealed) throw new SecretsUnreadableError(job.id, 'missing', { current: box.keyId });
  return box.open(job.id, sealed);
}
