/**
 * Root hooks: after the whole run, fail if a test left a server, socket or
 * timer behind. A leak must fail the run, never hang it: mocha runs with
 * exit: false (so a leak is seen at all), and a watchdog that does not keep
 * the process alive ends it with exit code 1 if something still does.
 */
const HANG_WATCHDOG_MS = 15_000;
const LEAKY = new Set(['TCPServerWrap', 'TCPSocketWrap', 'Timeout', 'ProcessWrap']);
let baseline: Map<string, number>;

function count(): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) m.set(r, (m.get(r) ?? 0) + 1);
  return m;
}

export const mochaHooks = {
  // Async like afterAll, so mocha's own hook-timeout timer is in both counts.
  async beforeAll() {
    await Promise.resolve();
    baseline = count();
  },
  async afterAll() {
    setTimeout(() => {
      process.stderr.write(
        `\nThe test run was still alive ${HANG_WATCHDOG_MS / 1000} s after the last test; something leaked: ${process.getActiveResourcesInfo().join(', ')}\n`,
      );
      process.exit(1);
    }, HANG_WATCHDOG_MS).unref();
    // Closed sockets and cleared timers leave the list on the next turn of the loop.
    await new Promise((r) => setTimeout(r, 200));
    const now = count();
    const leaks = [...now].filter(([k, n]) => LEAKY.has(k) && n > (baseline.get(k) ?? 0));
    if (leaks.length)
      throw new Error(
        `tests leaked resources: ${leaks.map(([k, n]) => `${k}×${n - (baseline.get(k) ?? 0)}`).join(', ')}`,
      );
  },
};
