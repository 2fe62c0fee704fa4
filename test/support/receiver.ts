/**
 * A real HTTP receiver on 127.0.0.1 that records every request (raw body
 * bytes included) and answers as the test tells it to.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  n: number;
  path: string;
  headers: http.IncomingHttpHeaders;
  raw: Buffer;
  json: { id: string; event: string; created_at: string; data: unknown };
  at: number;
}

export interface Reply {
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Never answer. */
  hang?: boolean;
  /** Drop the connection without answering. */
  destroy?: boolean;
}

export type Responder = (req: Received) => Reply;

export interface Receiver {
  url: string;
  port: number;
  received: Received[];
  respond(fn: Responder): void;
  close(): Promise<void>;
}

export async function startReceiver(responder: Responder = () => ({ status: 200 })): Promise<Receiver> {
  let fn = responder;
  const received: Received[] = [];
  const hanging = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      let json: Received['json'];
      try {
        json = JSON.parse(raw.toString('utf8')) as Received['json'];
      } catch {
        json = { id: '', event: '', created_at: '', data: null };
      }
      const r: Received = {
        n: received.length + 1,
        path: req.url ?? '/',
        headers: req.headers,
        raw,
        json,
        at: Date.now(),
      };
      received.push(r);
      const reply = fn(r);
      const answer = () => {
        if (reply.destroy) return req.socket.destroy();
        res.writeHead(reply.status ?? 200, reply.headers ?? { 'content-type': 'text/plain' });
        res.end(reply.body ?? 'ok');
      };
      if (reply.hang) {
        hanging.add(res);
        return;
      }
      if (reply.delayMs) setTimeout(answer, reply.delayMs);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    received,
    respond(f) {
      fn = f;
    },
    async close() {
      for (const res of hanging) res.socket?.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
