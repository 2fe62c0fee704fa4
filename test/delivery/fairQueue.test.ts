/**
 * The fair queue alone, with no database: caps, fairness between endpoints,
 * the claim window, and stopping.
 */
import { expect } from 'chai';
import { createFairQueue } from '../../src/delivery/fairQueue.js';
import type { ClaimedDelivery } from '../../src/db/claims.js';

let nextId = 1;
const delivery = (endpointId: number): ClaimedDelivery => ({
  id: nextId++,
  orderingKey: null,
  notBefore: 0,
  extraHeaders: null,
  auth: null,
  tls: null,
  timeoutSeconds: null,
  retryScheduleSeconds: null,
  ed25519Key: null,
  endpointType: 'webhook',
  templates: null,
  transformation: null,
  transformationWaitMs: 0,
  transformationFailures: 0,
  attempts: 0,
  retryBase: 0,
  endpointId,
  eventId: `evt_${nextId}`,
  eventType: 't',
  body: '{}',
  url: 'http://x/',
  secrets: ['s'],
  endpointEnabled: true,
  claimToken: 'tok',
});

/** A run() whose deliveries finish only when the test says so. */
function controlled() {
  const started: ClaimedDelivery[] = [];
  const finishers = new Map<number, (fail?: boolean) => void>();
  const run = (c: ClaimedDelivery) =>
    new Promise<void>((resolve, reject) => {
      started.push(c);
      finishers.set(c.id, (fail) => (fail ? reject(new Error('boom')) : resolve()));
    });
  const finish = async (id: number, fail = false) => {
    finishers.get(id)!(fail);
    await new Promise((r) => setImmediate(r));
  };
  return { started, run, finish };
}

describe('fair queue', () => {
  it('starts no more than the concurrency, nor more than the cap per endpoint, and refills as requests finish', async () => {
    const c = controlled();
    const live = new Map<number, number>();
    let peak = 0;
    const peakPer = new Map<number, number>();
    const run = (d: ClaimedDelivery) => {
      live.set(d.endpointId, (live.get(d.endpointId) ?? 0) + 1);
      peak = Math.max(
        peak,
        [...live.values()].reduce((a, b) => a + b, 0),
      );
      peakPer.set(d.endpointId, Math.max(peakPer.get(d.endpointId) ?? 0, live.get(d.endpointId)!));
      return c.run(d).finally(() => live.set(d.endpointId, live.get(d.endpointId)! - 1));
    };
    const s = createFairQueue({ concurrency: 4, perEndpointCap: () => 2, run });
    s.enqueue([1, 1, 1, 2, 2, 2, 3].map(delivery));
    s.dispatch();
    expect(s.stats()).to.deep.equal({ inFlight: 4, queued: 3 });
    expect(new Set(c.started.map((d) => d.endpointId)), 'every endpoint gets a turn first').to.deep.equal(
      new Set([1, 2, 3]),
    );
    for (let i = 0; i < 7; i++) await c.finish(c.started[i]!.id);
    expect(c.started).to.have.length(7);
    expect(peak).to.equal(4);
    expect(Math.max(...peakPer.values())).to.equal(2);
  });

  it('takes endpoints in turn, so one with a backlog does not starve another', () => {
    const c = controlled();
    const s = createFairQueue({ concurrency: 6, perEndpointCap: () => 64, run: c.run });
    s.enqueue([...Array(10).fill(1), 2, 2, 2].map(delivery));
    s.dispatch();
    expect(c.started.map((d) => d.endpointId)).to.deep.equal([1, 2, 1, 2, 1, 2]);
  });

  it('asks for a claim only when a quarter of the window is free, and names endpoints that hold their share', () => {
    const c = controlled();
    const s = createFairQueue({ concurrency: 8, perEndpointCap: () => 2, run: c.run });
    expect(s.claimable(), 'empty: claim the whole window').to.equal(16);
    s.enqueue(Array.from({ length: 14 }, () => delivery(1)));
    expect(s.claimable(), '2 free of 16: a quarter of 8, worth a claim').to.equal(2);
    s.enqueue([delivery(1)]);
    expect(s.claimable(), '1 free: not worth a query yet').to.equal(0);
    expect(s.fullEndpoints()).to.deep.equal([1]);
    expect(s.freeSlots(1)).to.equal(-11);
    expect(s.freeSlots(2)).to.equal(4);
    expect(s.isFull(2)).to.equal(false);
  });

  it('keeps going when a run rejects, and on stop starts nothing more and hands back what waited', async () => {
    const c = controlled();
    const s = createFairQueue({ concurrency: 1, perEndpointCap: () => 1, run: c.run });
    s.enqueue([1, 1, 1].map(delivery));
    s.dispatch();
    await c.finish(c.started[0]!.id, true);
    expect(c.started).to.have.length(2);
    const unsent = s.stop();
    expect(unsent).to.have.length(1);
    await c.finish(c.started[1]!.id);
    expect(c.started, 'nothing started after stop').to.have.length(2);
    await s.settled();
    expect(s.stats()).to.deep.equal({ inFlight: 0, queued: 0 });
  });
});
