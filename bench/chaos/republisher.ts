// Every bus event delivered twice: a NATS subscriber on the stream's subjects publishes each
// message again to JetStream with the same subject, body and headers but another Nats-Msg-Id,
// so the stream stores it twice and every consumer gets both copies. Its own copies carry a
// header and are not copied again.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/nats-core';

const MARK = 'Chaos-Duplicate';

export interface Republisher {
  copies(): number;
  stop(): Promise<void>;
}

export async function startRepublisher(
  natsUrl: string,
  subjectPrefix: string,
): Promise<Republisher> {
  const nc: NatsConnection = await connect({ servers: natsUrl });
  const js = jetstream(nc);
  let copies = 0;
  const pending = new Set<Promise<unknown>>();
  const sub = nc.subscribe(`${subjectPrefix}.>`, {
    callback: (err, msg) => {
      if (err || msg.headers?.get(MARK)) return;
      const h = natsHeaders();
      for (const key of msg.headers?.keys() ?? []) {
        if (key !== 'Nats-Msg-Id') h.set(key, msg.headers?.get(key) ?? '');
      }
      h.set(MARK, '1');
      const id = msg.headers?.get('Nats-Msg-Id') || `${msg.subject}-${copies}`;
      const p = js
        .publish(msg.subject, msg.data, { msgID: `${id}/chaos-duplicate`, headers: h })
        .then(() => (copies += 1))
        .catch(() => undefined);
      pending.add(p);
      void p.finally(() => pending.delete(p));
    },
  });
  return {
    copies: () => copies,
    async stop() {
      await Promise.all(pending);
      sub.unsubscribe();
      await nc.close();
    },
  };
}
