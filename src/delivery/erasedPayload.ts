/**
 * What an erased event's payload becomes: `data` replaced by a marker that
 * names the erasure, in the envelope kept for the log and in the LMS's
 * outbox row; ids, type and times stay. The attempt path refuses to send
 * an erased envelope (a replay or a backfill would otherwise deliver the
 * marker as if it were an event).
 */

export function erasedData(erasureId: number, at: Date): { erased: { erasure_id: number; erased_at: string } } {
  return { erased: { erasure_id: erasureId, erased_at: at.toISOString() } };
}

/** The envelope with its data replaced by the marker, keys in their order. */
export function erasedEnvelope(body: string, erasureId: number, at: Date): string {
  let envelope: Record<string, unknown>;
  try {
    envelope = JSON.parse(body) as Record<string, unknown>;
  } catch {
    envelope = {};
  }
  return JSON.stringify({ ...envelope, data: erasedData(erasureId, at) });
}

/** Text a receiver's stored answer is replaced with. */
export function erasedText(erasureId: number): string {
  return `[erased by erasure ${erasureId}]`;
}

const MARKER_RE = /"data":\{"erased":\{"erasure_id":(\d+),/;
/** An erased envelope is short; a longer body is never one. */
const MAX_ERASED_BYTES = 512;

/** The erasure that erased this envelope, or null when it is not erased. */
export function erasureOf(body: string): number | null {
  if (body.length > MAX_ERASED_BYTES) return null;
  const m = MARKER_RE.exec(body);
  return m ? Number(m[1]) : null;
}
