// Where the integration suites find PostgreSQL and NATS (127.0.0.1 by default).
export const PG_ADMIN_URL =
  process.env.HODEI_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const NATS_URL = process.env.HODEI_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

export function databaseUrl(name: string): string {
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Deletes a JetStream stream a test made (nothing if it is already gone). */
export async function deleteStream(name: string): Promise<void> {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: NATS_URL });
  try {
    await (await jetstreamManager(nc)).streams.delete(name).catch(() => false);
  } finally {
    await nc.close();
  }
}
