/**
 * The transformation sandbox alone: reshaping, cancelling, PUT to another
 * URL, and hostile code, each failing its own run with a reason while the
 * next run works; the same input always gives the same output.
 */
import { expect } from 'chai';
import { checkTransformation, runTransformation, TRANSFORM_LIMITS } from '../../src/delivery/transform.js';
import { createTransformPool, type TransformPool } from '../../src/delivery/transformPool.js';
import { TRANSFORMATION_BACKOFF_AFTER } from '../../src/db/transformBackoff.js';

const payload = {
  id: 'evt_1',
  event: 'enrollment.created',
  created_at: '2026-12-06T10:00:00Z',
  data: { student_id: 's1', course_id: 'c1' },
};
const input = {
  method: 'POST' as const,
  url: 'https://crm.example.com/intake',
  eventType: 'enrollment.created',
  body: JSON.stringify(payload),
};
const run = (code: string) => runTransformation(code, input);

describe('transformation sandbox', () => {
  it('reshapes the body, keeps the request as it was when nothing is returned, and cancels', async () => {
    expect(
      await run(
        'function handler(w) { w.payload = { contact: w.payload.data.student_id, type: w.eventType }; return w; }',
      ),
    ).to.deep.equal({
      kind: 'send',
      method: 'POST',
      url: 'https://crm.example.com/intake',
      body: '{"contact":"s1","type":"enrollment.created"}',
    });
    expect(await run('function handler(w) { w.payload.data.extra = 1; }')).to.deep.include({
      body: JSON.stringify({ ...payload, data: { ...payload.data, extra: 1 } }),
    });
    expect(await run('function handler(w) { w.cancel = w.payload.data.course_id === "c1"; return w; }')).to.deep.equal({
      kind: 'cancel',
    });
  });

  it('may PUT to another URL; other methods and URLs are refused', async () => {
    expect(
      await run('function handler(w) { w.method = "PUT"; w.url = w.url + "/" + w.payload.data.student_id; return w; }'),
    ).to.deep.include({
      method: 'PUT',
      url: 'https://crm.example.com/intake/s1',
    });
    expect(await run('function handler(w) { w.method = "DELETE"; return w; }')).to.deep.equal({
      kind: 'error',
      message: 'webhook.method must be "POST" or "PUT", not "DELETE"',
    });
    expect(await run('function handler(w) { w.url = "file:///etc/passwd"; return w; }')).to.deep.equal({
      kind: 'error',
      message: 'webhook.url must be an http:// or https:// URL',
    });
    expect(await run('function handler(w) { return 42; }')).to.have.property('kind', 'error');
  });

  it('stops hostile code with a reason each time, and the next run still works', async () => {
    const hostile: [string, RegExp][] = [
      // The CPU limit, or on a starved host the wall-clock limit, stops it first.
      [
        'function handler(w) { while (true) {} }',
        new RegExp(`longer than (${TRANSFORM_LIMITS.cpuMs} ms of CPU|${TRANSFORM_LIMITS.wallMs} ms)`),
      ],
      ['function handler(w) { var s = "x"; while (true) s += s; }', /more than 16 MB|string too long/],
      // QuickJS's memory limit, or the CPU read from outside while it collects near that limit, or on a starved
      // host (the worker runs at nice 10) the wall-clock limit: whichever comes first, as for the loop above.
      [
        'function handler(w) { var a = []; while (true) a.push(new Array(1e5).fill(1)); }',
        new RegExp(
          `more than (16 MB|${TRANSFORM_LIMITS.outsideCpuMs} ms of CPU)|longer than ${TRANSFORM_LIMITS.wallMs} ms`,
        ),
      ],
      ['function handler(w) { function f(n) { return f(n + 1) + 1; } return f(0); }', /stack|recursed/i],
      ['function handler(w) { return globalThis.constructor.constructor("return process")(); }', /process/],
      ['function handler(w) { require("fs"); return w; }', /require/],
      ['function handler(w) { setTimeout(function () {}, 1); return w; }', /setTimeout/],
      ['function handler(w) { w.payload = Date.now(); return w; }', /Date/],
      ['function handler(w) { w.payload = Math.random(); return w; }', /Math.random is not available/],
      ['function handler(w) {\n  throw new Error("bad mapping");\n}', /^Error: bad mapping \(line 2\)$/],
    ];
    for (const [code, reason] of hostile) {
      const r = await run(code);
      expect(r.kind, code).to.equal('error');
      expect((r as { message: string }).message, code).to.match(reason);
      const next = await run('function handler(w) { return w; }');
      expect(next.kind, `after ${code}: ${JSON.stringify(next)}`).to.equal('send');
    }
  });

  it('gives the same output for the same input', async () => {
    const code =
      'function handler(w) { w.payload = { n: JSON.stringify(w.payload).length, keys: Object.keys(w.payload.data) }; return w; }';
    const first = await run(code);
    for (let i = 0; i < 5; i++) expect(await run(code)).to.deep.equal(first);
  });

  it('refuses code that does not compile or defines no handler, naming the line', async () => {
    expect(await checkTransformation('function handler(w) {\n  return w\n')).to.match(/^SyntaxError: .*\(line \d\)$/);
    expect(await checkTransformation('var x = 1;')).to.equal('the code must define function handler(webhook)');
    expect(await checkTransformation('function handler(w) { return w; }')).to.equal(null);
  });
});

describe('transformation pool', () => {
  const REGEX =
    'function handler(w) { if (!/^([A-Za-z]+\\s?)+$/.test(w.payload.data.student_name)) w.cancel = true; return w; }';
  const studentInput = {
    ...input,
    body: JSON.stringify({ ...payload, data: { student_name: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!' } }),
  };
  let pool: TransformPool;
  beforeEach(() => (pool = createTransformPool(2)));
  afterEach(() => pool.close());

  it('ends a run QuickJS cannot interrupt (a regex backtracking on LMS input) from outside, at its CPU or wall-clock limit, without holding this thread', async () => {
    let timerRan = false;
    let timerRanBeforeTheEnd = false;
    const running = pool.run('site:1', { op: 'run', code: REGEX, ...studentInput }).then((a) => {
      timerRanBeforeTheEnd = timerRan;
      return a;
    });
    // With the run on this thread, nothing else would run until it ended.
    setTimeout(() => (timerRan = true), 0);
    const { result } = await running;
    expect(timerRanBeforeTheEnd, 'a timer of this thread ran while the regex did').to.equal(true);
    // Stopped from outside: at its CPU, read from /proc, or on a starved host at the wall-clock limit.
    expect(result).to.include({ kind: 'error', limit: true });
    expect((result as { message: string }).message).to.match(
      new RegExp(
        `^the transformation (used more than ${TRANSFORM_LIMITS.outsideCpuMs} ms of CPU where the engine could not interrupt it|ran longer than ${TRANSFORM_LIMITS.wallMs} ms)`,
      ),
    );
    expect(pool.stats()).to.include({ outsideStops: 1, replaced: 1 });
    // A fresh worker takes the ended one's place.
    expect(
      (await pool.run('site:1', { op: 'run', code: 'function handler(w) { return w; }', ...input })).result,
    ).to.have.property('kind', 'send');
  });

  it('takes lanes in turn, one worker per lane: a lane stuck at its limit does not hold up another', async () => {
    const done: string[] = [];
    // Two stuck runs: with both workers on them, the good lane would wait a whole limit.
    const stuck = [1, 2].map(() =>
      pool.run('site:bad', { op: 'run', code: REGEX, ...studentInput }).then(() => done.push('bad')),
    );
    const quick = Array.from({ length: 5 }, (_, i) =>
      pool
        .run('site:good', { op: 'run', code: 'function handler(w) { return w; }', ...input })
        .then(() => done.push(`good${i}`)),
    );
    await Promise.all([...stuck, ...quick]);
    expect(done).to.deep.equal(['good0', 'good1', 'good2', 'good3', 'good4', 'bad', 'bad']);
  });

  it(`answers runs of code that failed ${TRANSFORMATION_BACKOFF_AFTER} times in a row "waiting" without running them, until new code comes`, async () => {
    // One worker, so the runs of the lane go one at a time and the count is exact (with two, a lane alone
    // may run on both, and a sixth run can start before the fifth failure is counted).
    await pool.close();
    pool = createTransformPool(1);
    const failing = 'function handler(w) { throw new Error("no"); }';
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => pool.run('site:7', { op: 'run', code: failing, ...input })),
    );
    expect(answers.map((a) => a.result.kind)).to.deep.equal([
      ...Array<string>(TRANSFORMATION_BACKOFF_AFTER).fill('error'),
      ...Array<string>(8 - TRANSFORMATION_BACKOFF_AFTER).fill('waiting'),
    ]);
    const waiting = answers.at(-1)!.result as { waitMs: number; failures: number };
    expect(waiting.failures).to.equal(TRANSFORMATION_BACKOFF_AFTER);
    expect(waiting.waitMs).to.be.within(1, 30_000);
    // A run stopped at a limit: its lane waits at once.
    expect(
      (await pool.run('site:9', { op: 'run', code: 'function handler(w) { for (;;) {} }', ...input })).result,
    ).to.have.property('limit', true);
    expect(
      (await pool.run('site:9', { op: 'run', code: 'function handler(w) { for (;;) {} }', ...input })).result,
    ).to.have.property('kind', 'waiting');
    // Another lane, and the same lane with other code, run as usual.
    expect((await pool.run('site:8', { op: 'run', code: failing, ...input })).result.kind).to.equal('error');
    expect(
      (await pool.run('site:7', { op: 'run', code: 'function handler(w) { return w; }', ...input })).result.kind,
    ).to.equal('send');
  });
});
