import { expect } from 'chai';
import { createNetworkPace } from '../../src/delivery/networkPace.js';

describe("a network's pace", () => {
  it('is split between the sites the pace holds back, each capped by its own setting, and not between idle ones', () => {
    let now = 1_000_000;
    let total = 100;
    const net = createNetworkPace(
      () => total,
      () => now,
    );
    const [a, b, c] = [net.forSite(1), net.forSite(2), net.forSite(3)];
    // Nobody draining: every site may go at the whole pace (a single event is never slowed).
    expect([a.pace(100), b.pace(100), c.pace(100)]).to.deep.equal([100, 100, 100]);
    a.onPaced();
    expect(a.pace(100)).to.equal(100);
    b.onPaced();
    expect([a.pace(100), b.pace(100), c.pace(100)]).to.deep.equal([50, 50, 50]);
    // A site's own lower setting caps its share; its own 0 (no cap) takes the share.
    expect([b.pace(20), b.pace(0)]).to.deep.equal([20, 50]);
    // Two seconds after its last hold, a site no longer counts as draining.
    now += 1500;
    a.onPaced();
    now += 1000;
    expect(a.pace(100)).to.equal(100);
    // The main site's 0 (no network cap) leaves each site its own setting.
    total = 0;
    b.onPaced();
    expect([a.pace(100), b.pace(0)]).to.deep.equal([100, 0]);
  });
});
