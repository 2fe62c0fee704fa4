/**
 * {prefix}webhook_attempts: every request made, successful or not.
 */
import type { Queryable } from './sql.js';
import type { Tables } from './tables.js';
import type { Attempt, ErrorClass } from '../types.js';
import { parseJsonColumn, rows, toDate } from './sql.js';

export type NewAttempt = Omit<Attempt, 'id'>;

/**
 * Idempotent: a batch whose commit was cut off by a lost connection (outcome
 * unknown) is written again, and uq_attempt (delivery, number, worker) makes
 * the second write of the same attempt a no-op.
 */
export async function insertAttempts(conn: Queryable, t: Tables, as: NewAttempt[]): Promise<void> {
  if (as.length === 0) return;
  await conn.query(
    `INSERT INTO ${t.attempts} (delivery_id, attempt_no, started_at, duration_ms, outcome, status_code, error_class,
       error_message, request_url, started_by, request_headers, response_headers, response_body, worker) VALUES ?
       ON DUPLICATE KEY UPDATE id = id`,
    [
      as.map((a) => [
        a.deliveryId,
        a.attemptNo,
        a.startedAt,
        Math.max(0, Math.round(a.durationMs)),
        a.outcome,
        a.statusCode,
        a.errorClass,
        a.errorMessage?.slice(0, 1000) ?? null,
        a.requestUrl.slice(0, 2048),
        a.startedBy,
        JSON.stringify(a.requestHeaders),
        a.responseHeaders ? JSON.stringify(a.responseHeaders) : null,
        a.responseBody,
        a.worker.slice(0, 100),
      ]),
    ],
  );
}

export async function listAttempts(conn: Queryable, t: Tables, deliveryId: number): Promise<Attempt[]> {
  const r = await rows(conn, `SELECT * FROM ${t.attempts} WHERE delivery_id = ? ORDER BY attempt_no, id`, [deliveryId]);
  return r.map((x) => ({
    id: Number(x.id),
    deliveryId: Number(x.delivery_id),
    attemptNo: Number(x.attempt_no),
    startedAt: toDate(x.started_at)!,
    durationMs: Number(x.duration_ms),
    outcome: String(x.outcome) as Attempt['outcome'],
    statusCode: x.status_code === null ? null : Number(x.status_code),
    errorClass: x.error_class === null ? null : (String(x.error_class) as ErrorClass),
    errorMessage: x.error_message === null ? null : String(x.error_message),
    requestUrl: String(x.request_url),
    startedBy: x.started_by === null ? null : (String(x.started_by) as Attempt['startedBy']),
    requestHeaders: parseJsonColumn<Record<string, string>>(x.request_headers, {}),
    responseHeaders: parseJsonColumn<Record<string, string> | null>(x.response_headers, null),
    responseBody: x.response_body === null ? null : String(x.response_body),
    worker: String(x.worker),
  }));
}
