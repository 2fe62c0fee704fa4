/**
 * One pace for the whole network. Every site of a network writes to one
 * database, so the main site's `max_deliveries_per_second` is what the whole
 * network may start per second: split evenly between the sites that are
 * draining (held back by the pace within the last 2 s), each site's own
 * setting still capping its share. A site with one event is never held back,
 * so it is not counted and is not slowed: its event goes at its next claim.
 */
export interface SitePace {
  /** This site's pace now (0: no cap), given its own setting. */
  pace(own: number): number;
  /** The pace held this site's claims back: it is draining. */
  onPaced(): void;
}

export interface NetworkPace {
  forSite(blogId: number): SitePace;
}

const DRAINING_MS = 2000;

export function createNetworkPace(networkPace: () => number, now: () => number = Date.now): NetworkPace {
  const heldAt = new Map<number, number>();
  const draining = () => {
    const since = now() - DRAINING_MS;
    let n = 0;
    for (const [id, at] of heldAt) {
      if (at >= since) n++;
      else heldAt.delete(id);
    }
    return n;
  };
  return {
    forSite(blogId) {
      return {
        pace(own) {
          const total = networkPace();
          if (!(total > 0)) return own;
          const share = total / Math.max(1, draining());
          return own > 0 ? Math.min(own, share) : share;
        },
        onPaced() {
          heldAt.set(blogId, now());
        },
      };
    },
  };
}
