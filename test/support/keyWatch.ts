/**
 * A receiver responder that watches ordering keys: each key's requests in
 * arrival order, and the most requests of one key in flight at once (which
 * an ordered endpoint must keep at 1). Payloads carry {key, n}.
 */
import type { Received, Reply } from './receiver.js';

export type KeyData = { key: string | null; n: number };

export function keyWatch(reply: (d: KeyData, r: Received) => Reply = () => ({ status: 200 })) {
  const order = new Map<string, number[]>();
  const inFlight = new Map<string, number>();
  let maxInFlight = 0;
  return {
    order,
    maxInFlight: () => maxInFlight,
    responder(r: Received): Reply {
      const d = r.json.data as KeyData;
      const key = d.key ?? '';
      order.set(key, [...(order.get(key) ?? []), d.n]);
      const now = (inFlight.get(key) ?? 0) + 1;
      inFlight.set(key, now);
      if (d.key !== null) maxInFlight = Math.max(maxInFlight, now);
      const out = reply(d, r);
      // Counted as ended when the answer is due; a hang never ends.
      if (!out.hang) setTimeout(() => inFlight.set(key, (inFlight.get(key) ?? 1) - 1), out.delayMs ?? 0);
      return out;
    },
  };
}
