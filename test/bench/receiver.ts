/**
 * Benchmark receiver, run as its own process so its CPU is not the sidecar's.
 * Counts receipts (and distinct event ids) and, for payloads carrying `t`
 * (ms since epoch at INSERT), the insert → receipt latency. Talks over IPC.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

let count = 0;
let ids = new Set<string>();
let latencies: number[] = [];
let lastAt = 0;

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const now = Date.now();
    count++;
    lastAt = now;
    try {
      const env = JSON.parse(Buffer.concat(chunks).toString()) as { id: string; data?: { t?: number } };
      ids.add(env.id);
      if (typeof env.data?.t === 'number') latencies.push(now - env.data.t);
    } catch {
      // counted anyway
    }
    // ?delay=ms: a slow receiver, answering after that long (the slow-endpoints figure).
    const delay = Number(/[?&]delay=(\d+)/.exec(req.url ?? '')?.[1] ?? 0);
    const answer = () => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    };
    if (delay > 0) setTimeout(answer, delay);
    else answer();
  });
});
server.keepAliveTimeout = 65_000;

process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'reset') {
    count = 0;
    ids = new Set();
    latencies = [];
    lastAt = 0;
    process.send!({ ok: true });
  } else if (m.cmd === 'stats') {
    process.send!({ count, distinct: ids.size, lastAt, latencies });
  } else if (m.cmd === 'exit') {
    server.close();
    process.exit(0);
  }
});

server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }));
