/**
 * The process's pace (max_deliveries_per_second) on a fake clock: claims go
 * out in quarter-second batches, never above the pace, and an idle process
 * claims a single event at once.
 */
import { expect } from 'chai';
import { createPacer } from '../../src/delivery/pacer.js';

describe('pacer', () => {
  const clock = (start = 1_000_000) => {
    let t = start;
    return { now: () => t, advance: (ms: number) => (t += ms) };
  };

  it('lets an idle process claim a quarter second of the pace at once, then holds the next claim for a quarter second', () => {
    const c = clock();
    const p = createPacer(() => 100, c.now);
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
    const p = createPacer(() => 40, c.now);
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
    const p = createPacer(() => rate, c.now);
    expect(p.allowance()).to.equal(1);
    p.spend(1);
    expect(p.msUntilNext()).to.equal(500);
    rate = 0;
    expect(p.allowance(), '0 is no cap').to.equal(Infinity);
    rate = 1000;
    c.advance(250);
    expect(p.allowance()).to.equal(250);
  });
});
