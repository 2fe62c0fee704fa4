/**
 * The process's pace (max_deliveries_per_second) on a fake clock: claims go
 * out in quarter-second batches, never above the pace, and an idle process
 * claims a single event at once.
 */
import { expect } from 'chai';
import { CLAIM_PACING, FANOUT_PACING, createPacer } from '../../src/delivery/pacer.js';

describe('pacer', () => {
  const clock = (start = 1_000_000) => {
    let t = start;
    return { now: () => t, advance: (ms: number) => (t += ms) };
  };

  it('lets an idle process claim a quarter second of the pace at once, then holds the next claim for a quarter second', () => {
    const c = clock();
    const p = createPacer(() => 100, CLAIM_PACING, c.now);
    expect(p.allowance()).to.equal(25);
    p.spend(25);
    expect(p.allowance()).to.equal(0);
    expect(p.msUntilNext()).to.equal(250);
    c.advance(100);
    expect(p.allowance(), 'a batch, not one row at a time').to.equal(0);
    c.advance(150);
    expect(p.allowance()).to.equal(25);
  });

  it('never claims more than the pace over a long drain', () => {
    const c = clock();
    const p = createPacer(() => 40, CLAIM_PACING, c.now);
    let claimed = 0;
    for (let ms = 0; ms < 10_000; ms += 7) {
      const n = p.allowance();
      if (n > 0 && Number.isFinite(n)) {
        p.spend(n);
        claimed += n;
      }
      c.advance(7);
    }
    // 10 s at 40/s, plus the first quarter second's batch.
    expect(claimed).to.be.within(395, 410);
  });

  it('claims one row at a time below 4 per second, and takes a changed pace at once', () => {
    const c = clock();
    let rate = 2;
    const p = createPacer(() => rate, CLAIM_PACING, c.now);
    expect(p.allowance()).to.equal(1);
    p.spend(1);
    expect(p.msUntilNext()).to.equal(500);
    rate = 0;
    expect(p.allowance(), '0 is no cap').to.equal(Infinity);
    rate = 1000;
    c.advance(250);
    expect(p.allowance()).to.equal(250);
  });

  it("fan-out's bucket: a second of the pace (at least 100), taken as it refills, paid back when a batch made more", () => {
    const c = clock();
    const p = createPacer(() => 20, FANOUT_PACING, c.now);
    expect(p.allowance(), 'at least 100 at a low pace').to.equal(100);
    p.spend(130); // a batch of 100 rows made 130 deliveries
    c.advance(1000);
    expect(p.allowance(), 'the 30 over are paid back first').to.equal(0);
    expect(p.msUntilNext()).to.equal(550);
    c.advance(550);
    expect(p.allowance(), 'then whatever whole units it holds').to.equal(1);
  });
});
