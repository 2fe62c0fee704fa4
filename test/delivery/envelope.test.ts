import { expect } from 'chai';
import { buildEnvelope, formatTimestamp, judgeRow } from '../../src/delivery/fanout.js';
import { parseUtcDateTime } from '../../src/db/sql.js';
import type { OutboxRow } from '../../src/db/outbox.js';
import { matches, subscribed } from '../../src/delivery/subscriptions.js';

describe('envelope and subscriptions', () => {
  it('builds the contract envelope with the LMS payload as data, byte for byte', () => {
    const body = buildEnvelope(
      'evt_abc123',
      'enrollment.created',
      new Date('2025-03-20T10:30:00.456Z'),
      ' {"b":1,"a":[1, 2]} ',
    );
    expect(body).to.equal(
      '{"id":"evt_abc123","event":"enrollment.created","created_at":"2025-03-20T10:30:00Z","data":{"b":1,"a":[1, 2]}}',
    );
    expect(JSON.parse(body)).to.deep.equal({
      id: 'evt_abc123',
      event: 'enrollment.created',
      created_at: '2025-03-20T10:30:00Z',
      data: { b: 1, a: [1, 2] },
    });
    expect(formatTimestamp(new Date(0))).to.equal('1970-01-01T00:00:00Z');
  });

  it('survives payloads nested deeper than JSON.stringify could re-serialise', () => {
    const deep = '['.repeat(20000) + ']'.repeat(20000);
    expect(() => JSON.parse(buildEnvelope('evt_1', 't', new Date(), deep))).to.not.throw();
  });

  it('names why a row is rejected, naming the column', () => {
    const row: OutboxRow = {
      id: 1,
      eventType: 'a.b',
      eventTypeChars: 3,
      payload: '{"x":1}',
      payloadBytes: 7,
      eventId: null,
      eventIdChars: 0,
      occurredAtText: null,
      createdAtText: '2025-03-20 10:30:00.000',
      insertedAtText: null,
      orderingKey: null,
      orderingKeyChars: 0,
    };
    const reason = (r: Partial<OutboxRow>) => {
      const j = judgeRow({ ...row, ...r }, 100);
      return j.ok ? null : j.reason;
    };
    expect(reason({})).to.equal(null);
    expect(reason({ payload: '{bad' })).to.match(/^payload is not valid JSON/);
    expect(reason({ payload: null, payloadBytes: 5000 })).to.equal(
      'payload is 5000 bytes, over the max_payload_bytes limit of 100',
    );
    const packet = judgeRow({ ...row, payload: null, payloadBytes: 90 }, 100, new Date(), 80);
    expect(packet.ok ? null : packet.reason).to.equal(
      'payload is 90 bytes, more than this database server takes in one statement once escaped (80 bytes at its max_allowed_packet); raise max_allowed_packet, then replay the row',
    );
    expect(reason({ payload: null, payloadBytes: 0 })).to.equal('payload is NULL; it must be JSON text');
    expect(reason({ eventType: '', eventTypeChars: 0 })).to.equal('event_type is empty');
    expect(reason({ orderingKey: 'k'.repeat(192), orderingKeyChars: 192 })).to.equal(
      'ordering_key is 192 characters; at most 191 fit',
    );
    expect(reason({ orderingKey: 'k'.repeat(191), orderingKeyChars: 191 })).to.equal(null);
    expect(reason({ eventType: 'a b', eventTypeChars: 3 })).to.match(
      /^event_type "a b" has a space \(U\+0020\) at position 2/,
    );
    expect(reason({ eventType: 'order.😀', eventTypeChars: 7 })).to.match(
      /^event_type .* has a character outside printable ASCII \(U\+1F600\) at position 7; it is sent in the X-Webhook-Event header/,
    );
    expect(reason({ eventType: 'order.\u0007', eventTypeChars: 7 })).to.match(/a control character \(U\+0007\)/);
    expect(reason({ eventType: 't'.repeat(192), eventTypeChars: 192 })).to.equal(
      'event_type is 192 characters; at most 191 fit',
    );
    expect(reason({ eventId: 'e'.repeat(65), eventIdChars: 65 })).to.equal('event_id is 65 characters; at most 64 fit');
    expect(reason({ eventId: 'évt', eventIdChars: 3 })).to.match(
      /^event_id "évt" has a character outside printable ASCII \(U\+00E9\) at position 1; it is sent in the X-Webhook-Id header/,
    );
    expect(reason({ eventId: '', eventIdChars: 0 })).to.match(/^event_id is an empty string/);
  });

  it('takes a zero or impossible occurred_at as unset, noted, and reads times as UTC', () => {
    const row: OutboxRow = {
      id: 1,
      eventType: 'a.b',
      eventTypeChars: 3,
      payload: '{}',
      payloadBytes: 2,
      eventId: null,
      eventIdChars: 0,
      occurredAtText: null,
      createdAtText: '2025-03-20 10:30:00.250',
      insertedAtText: null,
      orderingKey: null,
      orderingKeyChars: 0,
    };
    const created = new Date('2025-03-20T10:30:00.250Z');
    for (const bad of ['0000-00-00 00:00:00.000', '2024-02-30 10:00:00.000', '2024-01-00 00:00:00', 'garbage']) {
      const j = judgeRow({ ...row, occurredAtText: bad }, 100);
      expect(j.ok, bad).to.equal(true);
      if (!j.ok) continue;
      expect(j.occurredAt.toISOString(), bad).to.equal(created.toISOString());
      expect(j.note, bad).to.match(/^occurred_at ".*" is not a real time; the insertion time was used instead$/);
    }
    const good = judgeRow({ ...row, occurredAtText: '2024-02-29 23:59:59.5' }, 100);
    expect(good.ok && good.occurredAt.toISOString()).to.equal('2024-02-29T23:59:59.500Z');
    expect(good.ok && good.note).to.equal(null);
    expect(parseUtcDateTime('0000-00-00 00:00:00')).to.equal(null);
    const now = new Date('2026-01-01T00:00:00Z');
    const zeroCreated = judgeRow({ ...row, createdAtText: '0000-00-00 00:00:00' }, 100, now);
    expect(zeroCreated.ok && zeroCreated.occurredAt.toISOString()).to.equal(now.toISOString());
    // inserted_at (UTC by construction) wins over created_at (the LMS session's wall clock).
    const tokyo = judgeRow(
      { ...row, createdAtText: '2025-03-20 19:30:00.250', insertedAtText: '2025-03-20 10:30:00.250' },
      100,
    );
    expect(tokyo.ok && tokyo.insertedAt.toISOString()).to.equal('2025-03-20T10:30:00.250Z');
  });

  it('matches exact names, prefix wildcards and *', () => {
    expect(matches('enrollment.created', 'enrollment.created')).to.equal(true);
    expect(matches('enrollment.created', 'enrollment.completed')).to.equal(false);
    expect(matches('enrollment.*', 'enrollment.completed')).to.equal(true);
    expect(matches('enrollment.*', 'enrollmentx.completed')).to.equal(false);
    expect(matches('enrollment.*', 'order.created')).to.equal(false);
    expect(matches('*', 'anything.at.all')).to.equal(true);
    expect(subscribed(['order.created', 'payment.*'], 'payment.failed')).to.equal(true);
    expect(subscribed([], 'payment.failed')).to.equal(false);
  });
});
