import net from 'node:net';
import { readFileSync } from 'node:fs';

/** The kernel's ephemeral range starts here: outgoing connections take their source ports above it. */
function ephemeralLow(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768;
  } catch {
    return 32768;
  }
}

const taken = new Set<number>();

/**
 * A TCP port nothing listens on right now, below the ephemeral range: a
 * server started later (a database node's state-transfer port is bound tens
 * of seconds after) cannot find it taken by some outgoing connection's
 * source port, as a port the kernel picks from the ephemeral range can be.
 * Never the same port twice in one test process.
 */
export async function freePort(): Promise<number> {
  const high = ephemeralLow() - 1;
  const low = Math.min(10_000, high - 1000);
  for (;;) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (taken.has(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) {
      taken.add(port);
      return port;
    }
  }
}
