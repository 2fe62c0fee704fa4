import { expect } from 'chai';
import { buildEnvelope, formatTimestamp, rejectReason } from '../../src/delivery/fanout.js';
import { matches, subscribed } from '../../src/delivery/subscriptions.js';

describe('envelope and subscriptions', () => {
  it('builds the contract envelope with the LMS payload as data, byte for byte', () => {
    const body = buildEnvelope('evt_abc123', 'enrollment.created', new Date('2025-03-20T10:30:00.456Z'), ' {"b":1,"a":[1, 2]} ');
    expect(body).to.equal('{"id":"evt_abc123","event":"enrollment.created","created_at":"2025-03-20T10:30:00Z","data":{"b":1,"a":[1, 2]}}');
    expect(JSON.parse(body)).to.deep.equal({ id: 'evt_abc123', event: 'enrollment.created', created_at: '2025-03-20T10:30:00Z', data: { b: 1, a: [1, 2] } });
    expect(formatTimestamp(new Date(0))).to.equal('1970-01-01T00:00:00Z');
  });

  it('survives payloads nested deeper than JSON.stringify could re-serialise', () => {
    const deep = '['.repeat(20000) + ']'.repeat(20000);
    expect(() => JSON.parse(buildEnvelope('evt_1', 't', new Date(), deep))).to.not.throw();
  });

  it('names why a row is rejected', () => {
    const row = { id: 1, eventType: 'a.b', payload: '{"x":1}', payloadBytes: 7, eventId: null, occurredAt: null, createdAt: new Date() };
    expect(rejectReason(row, 100)).to.equal(null);
    expect(rejectReason({ ...row, payload: '{bad' }, 100)).to.match(/^payload is not valid JSON/);
    expect(rejectReason({ ...row, payload: null, payloadBytes: 5000 }, 100)).to.equal('payload is 5000 bytes, over the max_payload_bytes limit of 100');
    expect(rejectReason({ ...row, eventType: '' }, 100)).to.equal('event_type is empty');
    expect(rejectReason({ ...row, eventType: 'a b' }, 100)).to.match(/whitespace/);
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
