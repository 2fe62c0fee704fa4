/**
 * Erasure (GDPR Art. 17): replaces every stored copy of the payloads of the
 * events matching a payload condition (as the log search takes it,
 * data.student_id=student_42) with a marker, keeping ids, types, times,
 * statuses and attempt outcomes so the log still adds up.
 *
 * A request covers the events and outbox rows there are when it is made.
 * Their deliveries not sent yet are cancelled, or sent first: then the
 * request waits (status `waiting`, its condition kept sealed) and the loop
 * finishes it once they are done. Runs hold the `erasure` lock, so one
 * replica at a time counts what it changed; every step is idempotent, so a
 * run cut short is finished by the next.
 */
import * as erasuresSql from '../db/erasures.js';
import type { ErasureCounts, ErasureRow, PendingAction } from '../db/erasures.js';
import { searchableValues, searchTerm } from '../db/events.js';
import { newHolder, withLock } from '../db/locks.js';
import { withTransaction } from '../db/transaction.js';
import { retryConflicts } from '../db/conflicts.js';
import { erasedData, erasedEnvelope, erasedText } from '../delivery/erasedPayload.js';
import { NotFoundError, ValidationError } from '../errors.js';
import type { ServiceContext } from './context.js';

export type { ErasureRow as Erasure, ErasureCounts, PendingAction } from '../db/erasures.js';

export interface ErasureRequest {
  /** Payload conditions, ANDed: data.<path> → exact value, as the log search takes them. */
  where: Record<string, string>;
  pending: PendingAction;
  /** Goes ahead although the condition matches no event, or at least half of them. */
  confirm?: boolean;
}

export interface ErasureResult {
  erasure: ErasureRow;
  /** Deliveries and outbox rows still to be sent before a `send` request finishes. */
  waitingFor: { deliveries: number; outboxRows: number };
  /** A repeat of a finished request that matches nothing more: that request's record, nothing changed. */
  repeated: boolean;
}

/** Events whose data this erasure changes in one transaction. */
const BATCH = 500;
/** Outbox rows read per page when looking for matches not fanned out yet. */
const OUTBOX_PAGE = 1000;
const DIGEST_PURPOSE = 'erasure condition';
/** At or past this share of all events, a condition is more likely a mistake than one person's data. */
const BROAD_SHARE = 0.5;
/** Below this many events, one person's share can be large: only "all of them" asks to confirm. */
const BROAD_MIN_EVENTS = 20;

type Conditions = [string, string][];
/** What a request covers: the events and outbox rows up to these ids. */
type Scope = Pick<ErasureRow, 'upToEventPk' | 'upToOutboxId'>;

const canonical = (where: Record<string, string>): Conditions =>
  Object.entries(where).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/** True when the envelope's data holds every condition's value (the check behind an 8-byte term's match). */
function matches(body: string, conditions: Conditions): boolean {
  const values = searchableValues(body);
  return conditions.every(([path, value]) => values.some(([p, v]) => p === path && v === value));
}

export function erasureOps(ctx: ServiceContext) {
  const { pool, t, box } = ctx;

  /** The matched events of a request (scope: what there was when it was made), in pk order. */
  async function matchedEvents(e: Scope, conditions: Conditions): Promise<erasuresSql.StoredEvent[]> {
    const candidates = await erasuresSql.eventsWithTerms(
      pool,
      t,
      conditions.map(([p, v]) => searchTerm(p, v)),
    );
    const out: erasuresSql.StoredEvent[] = [];
    for (let i = 0; i < candidates.length; i += BATCH) {
      for (const ev of await erasuresSql.eventsByPk(pool, t, candidates.slice(i, i + BATCH))) {
        const inScope = ev.pk <= e.upToEventPk || (ev.outboxId !== null && ev.outboxId <= e.upToOutboxId);
        if (inScope && matches(ev.body, conditions)) out.push(ev);
      }
    }
    return out.sort((a, b) => a.pk - b.pk);
  }

  /** Outbox rows of this request's scope that are not fanned out yet and match. */
  async function matchedUnfanned(e: Scope, conditions: Conditions): Promise<number[]> {
    const out: number[] = [];
    for (let after = 0; ;) {
      const page = await erasuresSql.unfannedOutbox(pool, t, after, e.upToOutboxId, OUTBOX_PAGE);
      for (const r of page) if (matches(`{"data":${r.payload}}`, conditions)) out.push(r.id);
      if (page.length < OUTBOX_PAGE) return out;
      after = page.at(-1)!.id;
    }
  }

  /** Cancels these deliveries endpoint by endpoint, admitting the next of an ordered key. */
  async function cancel(list: erasuresSql.DeliveryState[], reason: string): Promise<number> {
    const byEndpoint = new Map<number, erasuresSql.DeliveryState[]>();
    for (const d of list) byEndpoint.set(d.endpointId, [...(byEndpoint.get(d.endpointId) ?? []), d]);
    let n = 0;
    for (const [endpointId, ds] of byEndpoint) {
      const keys = [...new Set(ds.map((d) => d.orderingKey).filter((k): k is string => k !== null))];
      n += await ctx.inLine(endpointId, keys, (conn) =>
        erasuresSql.cancelDeliveries(
          conn,
          t,
          ds.map((d) => d.id),
          reason,
        ),
      );
    }
    if (n > 0) ctx.nudge();
    return n;
  }

  async function unfinished(events: erasuresSql.StoredEvent[]): Promise<erasuresSql.DeliveryState[]> {
    const out: erasuresSql.DeliveryState[] = [];
    for (let i = 0; i < events.length; i += BATCH)
      out.push(
        ...(await erasuresSql.unfinishedDeliveries(
          pool,
          t,
          events.slice(i, i + BATCH).map((e) => e.pk),
        )),
      );
    return out;
  }

  /**
   * One step of a request: cancels (or waits for) what is not sent, then
   * overwrites the payloads. Call holding the erasure lock.
   */
  async function advance(e: ErasureRow, conditions: Conditions): Promise<ErasureResult> {
    const counts: ErasureCounts = { ...e.counts };
    const reason = `cancelled by erasure ${e.id}: the event's payload is erased`;
    // One time for every copy this step overwrites: the outbox rows' marker and the envelopes'.
    const at = new Date();
    const marker = JSON.stringify(erasedData(e.id, at));
    const waitingFor = { deliveries: 0, outboxRows: 0 };

    const unfanned = await matchedUnfanned(e, conditions);
    if (e.pendingAction === 'cancel')
      counts.outbox += await erasuresSql.rejectUnfanned(pool, t, unfanned, marker, `erased (erasure ${e.id})`);
    else waitingFor.outboxRows = unfanned.length;

    const events = await matchedEvents(e, conditions);
    const open = await unfinished(events);
    // A paused delivery (its endpoint disabled) cannot be sent first: it is cancelled either way.
    const toCancel = open.filter((d) => !d.claimed && (e.pendingAction === 'cancel' || d.status === 'paused'));
    counts.deliveries_cancelled += await cancel(toCancel, reason);
    // Read again: one claimed between the read and the cancel is being sent now, and is waited for.
    const still = toCancel.length ? await unfinished(events) : open;
    waitingFor.deliveries = still.filter(
      (d) => d.claimed || (e.pendingAction === 'send' && d.status !== 'paused'),
    ).length;

    if (waitingFor.deliveries + waitingFor.outboxRows > 0) {
      await erasuresSql.recordProgress(pool, t, e.id, counts, false);
      return { erasure: { ...e, counts }, waitingFor, repeated: false };
    }
    for (let i = 0; i < events.length; i += BATCH) {
      const chunk = events.slice(i, i + BATCH);
      // One chunk in one transaction; a write conflict (Galera) runs it again, counted once.
      const changed = await retryConflicts(() =>
        withTransaction(pool, async (conn) => {
          const erased = await erasuresSql.eraseEvents(
            conn,
            t,
            new Map(chunk.map((x) => [x.pk, erasedEnvelope(x.body, e.id, at)])),
          );
          const outboxIds = chunk.map((x) => x.outboxId).filter((id): id is number => id !== null);
          return {
            ...erased,
            outbox: await erasuresSql.eraseOutboxRows(conn, t, outboxIds, marker),
            attempts: await erasuresSql.eraseAttempts(
              conn,
              t,
              chunk.map((x) => x.pk),
              erasedText(e.id),
            ),
          };
        }),
      );
      counts.events += changed.events;
      counts.event_terms += changed.terms;
      counts.outbox += changed.outbox;
      counts.attempts += changed.attempts;
    }
    await erasuresSql.recordProgress(pool, t, e.id, counts, true);
    return { erasure: (await erasuresSql.getErasure(pool, t, e.id))!, waitingFor, repeated: false };
  }

  function conditionsOf(e: ErasureRow): Conditions | null {
    return e.conditionsSealed === null ? null : (JSON.parse(box.open(e.conditionsSealed)) as Conditions);
  }

  async function record(
    conditions: Conditions,
    pending: PendingAction,
    requestedBy: string,
    marks: { eventPk: number; outboxId: number },
    triggerEventPk: number | null,
  ): Promise<ErasureRow | null> {
    const id = await erasuresSql.insertErasure(pool, t, {
      pendingAction: pending,
      paths: conditions.map(([p]) => p),
      conditionsDigest: box.digest(DIGEST_PURPOSE, JSON.stringify(conditions)),
      conditionsSealed: box.seal(JSON.stringify(conditions)),
      upToEventPk: marks.eventPk,
      upToOutboxId: marks.outboxId,
      requestedBy,
      triggerEventPk,
    });
    return id === null ? null : erasuresSql.getErasure(pool, t, id);
  }

  return {
    async requestErasure(input: ErasureRequest, requestedBy: string): Promise<ErasureResult> {
      const conditions = canonical(input.where);
      const locked = await withLock(pool, t, 'erasure', newHolder(), { leaseMs: 60_000, waitMs: 30_000 }, async () => {
        const marks = await erasuresSql.highWaterMarks(pool, t);
        const probe: Scope = { upToEventPk: marks.eventPk, upToOutboxId: marks.outboxId };
        const matched =
          (await matchedEvents(probe, conditions)).length + (await matchedUnfanned(probe, conditions)).length;
        const shown = conditions.map(([p, v]) => `${p}=${v}`).join(' and ');
        if (matched === 0) {
          const earlier = await erasuresSql.erasureByDigest(
            pool,
            t,
            box.digest(DIGEST_PURPOSE, JSON.stringify(conditions)),
          );
          if (earlier) return { erasure: earlier, waitingFor: { deliveries: 0, outboxRows: 0 }, repeated: true };
          if (!input.confirm)
            throw new ValidationError(
              `${shown} matches no event in the log or the outbox (check the path and the value: they are compared exactly); send confirm: true to record the erasure anyway`,
              'where',
              undefined,
              { needsConfirm: true },
            );
        }
        const span = await erasuresSql.eventSpan(pool, t);
        const everything = span >= 2 && matched >= span;
        if (!input.confirm && (everything || (span >= BROAD_MIN_EVENTS && matched >= span * BROAD_SHARE)))
          throw new ValidationError(
            `${shown} matches ${everything ? `all ${span} events in the log` : `${matched} of about ${span} events`}: a condition that broad is more likely a mistake than one person's data; send confirm: true to erase them all`,
            'where',
            undefined,
            { needsConfirm: true },
          );
        const e = (await record(conditions, input.pending, requestedBy, marks, null))!;
        return advance(e, conditions);
      });
      if (!locked.ran) throw new Error('the erasure lock was not taken');
      return locked.value;
    },

    async listErasures(limit = 100): Promise<ErasureRow[]> {
      return erasuresSql.listErasures(pool, t, limit);
    },

    async getErasure(id: number): Promise<ErasureRow> {
      const e = await erasuresSql.getErasure(pool, t, id);
      if (!e) throw new NotFoundError(`erasure ${id} does not exist`);
      return e;
    },

    /**
     * The loop's step: finishes waiting requests whose deliveries are sent,
     * and, when the setting is on, erases the payloads of students whose
     * student.deleted event every endpoint got that many days ago. One
     * replica at a time; returns how many requests it finished.
     */
    async runErasures(opts: { followDeletedStudents: boolean }): Promise<number> {
      const days = opts.followDeletedStudents ? ctx.deps.settings.current().eraseAfterStudentDeletedDays : null;
      // Idle (nothing waiting, nothing to follow): one indexed read, no lock taken.
      if (days === null && (await erasuresSql.waitingErasureIds(pool, t)).length === 0) return 0;
      const r = await withLock(pool, t, 'erasure', newHolder(), { leaseMs: 60_000, waitMs: null }, async () => {
        if (days !== null) await followDeletedStudents(days);
        let finished = 0;
        for (const id of await erasuresSql.waitingErasureIds(pool, t)) {
          const e = (await erasuresSql.getErasure(pool, t, id))!;
          const conditions = conditionsOf(e);
          const done = conditions === null ? null : await advance(e, conditions);
          if (done?.erasure.status === 'done') finished++;
        }
        return finished;
      });
      return r.ran ? r.value : 0;
    },
  };

  async function followDeletedStudents(days: number): Promise<void> {
    for (const ev of await erasuresSql.deletedStudentsDue(pool, t, Math.round(days * 86_400))) {
      const student = searchableValues(ev.body).find(([p]) => p === 'data.student_id')?.[1];
      // Without a student id there is nothing to match; recorded done so it is not looked at again.
      const conditions: Conditions = [['data.student_id', student ?? '']];
      const e = await record(
        conditions,
        'cancel',
        `automatic: ${days} day${days === 1 ? '' : 's'} after student.deleted was delivered (setting erase_after_student_deleted_days)`,
        { eventPk: ev.pk, outboxId: 0 },
        ev.pk,
      );
      if (e && student === undefined) await erasuresSql.recordProgress(pool, t, e.id, e.counts, true);
    }
  }
}
