/**
 * Runs the sidecar in this process (startSidecar) or as a real child process
 * (`node dist/src/main.js`), configured only through its environment.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { expect } from 'chai';
import { START_FLAGS } from './startFlags.js';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { waitFor } from './wait.js';
import { startReceiver, type Receiver } from './receiver.js';
import type { TestDb } from './db.js';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config.js';
import { createSecretBox, keyFromString, type SecretBox } from '../../src/secrets.js';
import { createLogger, silentLogger } from '../../src/log.js';
import { startSidecar, type Sidecar, type StartOptions } from '../../src/sidecar.js';

export const API_TOKEN = 'test-token-0123456789abcdef';
export const ADMIN_PASSWORD = 'correct horse battery';
/** The key the test sidecars seal secrets with. */
export const SECRETS_KEY = 'test-secrets-key-0123456789abcdef-0123456789';
/** The box a test that writes endpoints directly seals their secrets with: the one the test sidecars open them with. */
export const testSecretBox = (): SecretBox => createSecretBox(keyFromString(SECRETS_KEY, 'SECRETS_KEY'));
export const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));

export function testEnv(dbUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: dbUrl,
    API_TOKEN,
    ADMIN_PASSWORD,
    SECRETS_KEY,
    ALLOW_PRIVATE_TARGETS: 'true',
    PORT: '0',
    LOG_LEVEL: 'error',
    ...extra,
  };
}

export async function startInProcess(
  dbUrl: string,
  extra: Record<string, string> = {},
  opts: StartOptions = {},
): Promise<Sidecar> {
  // TEST_LOG=debug shows the in-process sidecar's log while a test runs.
  const log = process.env.TEST_LOG ? createLogger(process.env.TEST_LOG as 'debug') : silentLogger;
  return startSidecar(loadConfig(testEnv(dbUrl, extra)), log, { print: () => {}, ...opts });
}

/** Fast retries for tests: the schedule is a setting, so no clock needs faking. */
export const FAST_RETRIES = {
  retry_schedule_seconds: [1, 1],
  retry_jitter_ratio: 0,
  timeout_seconds: 2,
};

export interface Api {
  (method: string, path: string, body?: unknown, token?: string | null): Promise<{ status: number; body: any }>;
}

export function apiClient(baseUrl: string): Api {
  return async (method, path, body, token = API_TOKEN) => {
    // A connection per request: a kept-alive socket can be closed by the server's keep-alive timeout
    // just as the next request picks it up (ECONNRESET); on loopback a connection costs well under 1 ms.
    const headers: Record<string, string> = { connection: 'close' };
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(baseUrl + path, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // keep text
    }
    return { status: res.status, body: parsed };
  };
}

export interface Child {
  proc: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

export { START_FLAGS };

export function spawnSidecar(env: Record<string, string>, nodeFlags: string[] = []): Child {
  let out = '';
  const proc = spawn(process.execPath, [...START_FLAGS, ...nodeFlags, MAIN], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, output: () => out, exited };
}

/** SIGTERMs the children still running, waits for them, and empties the list. */
export async function stopChildren(children: Child[]): Promise<void> {
  for (const c of children.splice(0)) {
    if (c.proc.exitCode === null && c.proc.signalCode === null) {
      c.proc.kill('SIGTERM');
      await c.exited;
    }
  }
}

export interface SidecarFixture {
  /** The in-process sidecar (available from the first test on). */
  readonly sidecar: Sidecar;
  /** API client for it; a stable function, so it can be destructured. */
  api: Api;
  /** A receiver that reset() and the file's end close. */
  receiver: (...args: Parameters<typeof startReceiver>) => Promise<Receiver>;
  /** Creates an endpoint through the API and expects 201. */
  endpoint: (url: string, events: string[], extra?: Record<string, unknown>) => Promise<{ id: number; secret: string }>;
  /** Deletes every endpoint and closes the receivers: for afterEach. */
  reset: () => Promise<void>;
}

/**
 * Registers before/after hooks that run one in-process sidecar for the
 * calling describe(), on the database `db` provides.
 */
export function useSidecar(db: { get(): TestDb }, env: Record<string, string> = {}): SidecarFixture {
  let sidecar: Sidecar | undefined;
  let client: Api | undefined;
  const receivers: Receiver[] = [];
  const api: Api = (...args) => {
    if (!client) throw new Error('sidecar not started yet');
    return client(...args);
  };
  const closeReceivers = async () => {
    while (receivers.length) await receivers.pop()!.close();
  };
  before(async () => {
    sidecar = await startInProcess(db.get().url, env);
    client = apiClient(sidecar.url);
    // Stopped by the database fixture just before it drops the database: a
    // pool ending against a dropped database rejects, and the receivers leak.
    db.get().beforeDrop(async () => {
      try {
        await sidecar?.stop();
      } finally {
        await closeReceivers();
      }
    });
  });
  return {
    get sidecar() {
      if (!sidecar) throw new Error('sidecar not started yet');
      return sidecar;
    },
    api,
    async receiver(...args) {
      const r = await startReceiver(...args);
      receivers.push(r);
      return r;
    },
    async endpoint(url, events, extra = {}) {
      // confirm: tests subscribe to made-up types (order.paused, shape.*) that no LMS has sent yet.
      const res = await api('POST', '/api/endpoints', { url, events, confirm: true, ...extra });
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      return res.body as { id: number; secret: string };
    },
    async reset() {
      for (const e of (await api('GET', '/api/endpoints')).body.data) await api('DELETE', `/api/endpoints/${e.id}`);
      await closeReceivers();
    },
  };
}

/**
 * Resolves once the dispatcher has finished `n` more ticks: the positive
 * signal that it looked at the database and acted on what it found, for
 * checks that something did not happen.
 */
export async function ticksPass(sidecar: Sidecar, n = 2): Promise<void> {
  let last = sidecar.dispatcher.stats().lastTickAt;
  let seen = 0;
  await waitFor(
    `${n} dispatcher ticks`,
    () => {
      const at = sidecar.dispatcher.stats().lastTickAt;
      if (at !== last) {
        last = at;
        seen++;
      }
      return seen >= n;
    },
    10_000,
    10,
  );
}

/**
 * Resolves once every outbox row is fanned out and no delivery is being sent
 * or due: what was queued so far has been sent and its result recorded
 * (retries scheduled later do not count).
 */
export async function deliveriesSettled(pool: Pool): Promise<void> {
  await waitFor('deliveries settled', async () => {
    const [[r]] = await pool.query<RowDataPacket[]>(
      `SELECT (SELECT COUNT(*) FROM wp_webhook_outbox WHERE fanned_out_at IS NULL)
            + (SELECT COUNT(*) FROM wp_webhook_deliveries
                WHERE status = 'pending' AND (claim_token IS NOT NULL OR next_attempt_at <= NOW(3))) AS busy`,
    );
    return Number(r!.busy) === 0;
  });
}
