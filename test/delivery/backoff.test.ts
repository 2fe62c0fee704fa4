import { expect } from 'chai';
import { nextDelayMs, parseRetryAfterMs } from '../../src/delivery/backoff.js';
import { decide } from '../../src/delivery/attempt.js';
import { DEFAULT_SETTINGS } from '../../src/types.js';
import type { SendResult } from '../../src/delivery/send.js';

const noJitter = { ...DEFAULT_SETTINGS, retryJitterRatio: 0 };

describe('backoff', () => {
  it('follows the default schedule 1 min, 5 min, 30 min, 2 h, 24 h, then gives up', () => {
    const delays = [1, 2, 3, 4, 5, 6].map((n) => nextDelayMs(noJitter, n));
    expect(delays).to.deep.equal([60_000, 300_000, 1_800_000, 7_200_000, 86_400_000, null]);
  });

  it('applies ±jitter within the ratio', () => {
    const p = { ...DEFAULT_SETTINGS, retryJitterRatio: 0.1 };
    expect(nextDelayMs(p, 1, null, () => 0)).to.equal(54_000);
    expect(nextDelayMs(p, 1, null, () => 1)).to.equal(66_000);
    expect(nextDelayMs(p, 1, null, () => 0.5)).to.equal(60_000);
  });

  it('honours a later Retry-After, capped, and ignores an earlier one', () => {
    expect(nextDelayMs(noJitter, 1, 120_000)).to.equal(120_000);
    expect(nextDelayMs(noJitter, 1, 10_000)).to.equal(60_000);
    expect(nextDelayMs({ ...noJitter, retryAfterCapSeconds: 90 }, 1, 3_600_000)).to.equal(90_000);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2025-03-20T10:30:00Z');
    expect(parseRetryAfterMs('120', now)).to.equal(120_000);
    expect(parseRetryAfterMs('Thu, 20 Mar 2025 10:32:00 GMT', now)).to.equal(120_000);
    expect(parseRetryAfterMs('soon', now)).to.equal(null);
    expect(parseRetryAfterMs(undefined, now)).to.equal(null);
  });

  describe('decide', () => {
    const res = (over: Partial<SendResult>): SendResult => ({
      ok: false,
      statusCode: null,
      headers: {},
      body: '',
      durationMs: 1,
      errorClass: 'http_status',
      errorMessage: 'x',
      ...over,
    });
    it('treats 2xx as success and everything else as a failed attempt', () => {
      expect(decide(res({ ok: true, statusCode: 204 }), 1, noJitter, 0).status).to.equal('succeeded');
      expect(decide(res({ statusCode: 302 }), 1, noJitter, 0)).to.include({ status: 'pending', delayMs: 60_000 });
      expect(decide(res({ statusCode: null, errorClass: 'timeout' }), 6, noJitter, 0).status).to.equal('failed');
    });
    it('uses Retry-After only on 429 and 503', () => {
      expect(decide(res({ statusCode: 429, headers: { 'retry-after': '600' } }), 1, noJitter, 0).delayMs).to.equal(
        600_000,
      );
      expect(decide(res({ statusCode: 503, headers: { 'retry-after': '600' } }), 1, noJitter, 0).delayMs).to.equal(
        600_000,
      );
      expect(decide(res({ statusCode: 500, headers: { 'retry-after': '600' } }), 1, noJitter, 0).delayMs).to.equal(
        60_000,
      );
    });
    it('disables the endpoint on 410 Gone', () => {
      expect(decide(res({ statusCode: 410 }), 1, noJitter, 0).disableReason).to.match(/410/);
    });
  });
});
