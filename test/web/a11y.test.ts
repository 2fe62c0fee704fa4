/**
 * Every admin page as operators meet it, in Debian's Chromium: axe-core's
 * WCAG 2.2 AA rules over each page with real data (a failing endpoint, a
 * disabled one, rejected outbox rows), keyboard-only flows, and a phone-sized
 * screen. Screenshots at 1280 and 390 px go to test-artifacts/screens/a11y/.
 */
import { expect } from 'chai';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/browser.js';
import type { RowDataPacket } from 'mysql2';
import { insertOutbox, useTestDb } from '../support/db.js';
import { ADMIN_PASSWORD, useSidecar } from '../support/sidecar.js';
import type { Receiver } from '../support/receiver.js';
import { waitFor } from '../support/wait.js';

const SCREENS = 'test-artifacts/screens/a11y';
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const WCAG = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];

interface AxeResult {
  violations: { id: string; impact: string; help: string; nodes: { target: string[]; failureSummary: string }[] }[];
  passes: unknown[];
}

describe('admin pages: accessibility, keyboard and small screens', function () {
  this.timeout(120_000);
  const db = useTestDb('a11y');
  const fx = useSidecar(db);
  const { api } = fx;
  let browser: Browser;
  let page: Page;
  let ok: Receiver;
  let bad: Receiver;
  const ids = { ok: 0, failing: 0, disabled: 0, failedDelivery: 0, rejectedRow: 0 };
  /** Per page: rules passed and violations found, printed at the end for the closing note. */
  const report: string[] = [];

  before(async () => {
    mkdirSync(SCREENS, { recursive: true });
    browser = await launchChromium();
    // bypassCSP: axe is injected as a script tag; the pages' own CSP allows no inline script.
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
    page = await context.newPage();
  });

  after(async () => {
    await browser?.close();
    if (report.length) console.log(`      axe (${WCAG.join(', ')}):\n${report.map((l) => `        ${l}`).join('\n')}`);
  });

  async function axe(name: string): Promise<void> {
    await page.addScriptTag({ path: AXE });
    const result = await page.evaluate<AxeResult>(
      `axe.run(document, { runOnly: { type: 'tag', values: ${JSON.stringify(WCAG)} } })`,
    );
    report.push(`${name}: ${result.violations.length} violations, ${result.passes.length} rules passed`);
    const found = result.violations.map(
      (v) =>
        `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes
          .slice(0, 3)
          .map((n) => `${n.target.join(' ')} — ${n.failureSummary.replace(/\n/g, ' ')}`)
          .join('\n    ')}`,
    );
    expect(found, `${name} ${page.url()}`).to.deep.equal([]);
  }

  const shot = (name: string, width: number) =>
    page.screenshot({ path: `${SCREENS}/${name}-${width}.png`, fullPage: true });

  /** Presses Tab until the focused element matches, as a keyboard user would; fails after `max` presses. */
  async function tabTo(selector: string, max = 120): Promise<number> {
    for (let n = 1; n <= max; n++) {
      await page.keyboard.press('Tab');
      if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return n;
    }
    throw new Error(`${selector} not reached with ${max} presses of Tab on ${page.url()}`);
  }

  const focused = () =>
    page.evaluate(() => ({
      id: document.activeElement?.id ?? '',
      tag: document.activeElement?.tagName ?? '',
      text: document.activeElement?.textContent?.trim() ?? '',
    }));

  it('says the log is empty without blaming filters, before anything was sent; the login page passes axe', async () => {
    await page.goto(`${fx.sidecar.url}/admin/login`);
    await axe('login');
    await shot('login', 1280);
    // Logged in by keyboard alone: the password box has focus, Enter submits.
    expect((await focused()).id).to.equal('password');
    await page.keyboard.type(ADMIN_PASSWORD);
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/admin$/);
    await page.goto(`${fx.sidecar.url}/admin/deliveries`);
    const empty = await page.textContent('.empty');
    expect(empty).to.match(/^No deliveries yet/);
    expect(empty).to.not.include('filters');
  });

  it('sets up a failing endpoint, a disabled one and rejected rows', async () => {
    await api('PATCH', '/api/settings', { retry_schedule_seconds: [1], retry_jitter_ratio: 0, timeout_seconds: 2 });
    ok = await fx.receiver(() => ({ status: 200, body: 'ok' }));
    bad = await fx.receiver(() => ({
      status: 500,
      headers: { 'content-type': 'text/plain' },
      body: '\n  Database is locked (SQLITE_BUSY)\nat handler.js:12',
    }));
    ids.ok = (await fx.endpoint(`${ok.url}/crm`, ['enrollment.created', 'order.*'], { description: 'CRM sync' })).id;
    ids.failing = (await fx.endpoint(`${bad.url}/billing`, ['order.*'], { description: 'Billing bridge' })).id;
    ids.disabled = (await fx.endpoint(`${ok.url}/old`, ['order.*'], { description: 'Old LMS mirror' })).id;
    expect((await api('PATCH', `/api/endpoints/${ids.disabled}`, { enabled: false })).status).to.equal(200);
    await insertOutbox(db.get().pool, [
      { type: 'order.created', payload: { order_id: 'o_1', student_id: 'student_42', total: '49.00' } },
      { type: 'enrollment.created', payload: { student_id: 'student_42', course_id: 'course_7' } },
      { type: 'order.completed', payload: { order_id: 'o_1', student_id: 'student_42' } },
      { type: '', payload: { order_id: 'o_2' } },
      { type: 'order.refunded', payload: '{"order_id": "o_3", "amount": ' },
    ]);
    const [failed] = await waitFor(
      'a delivery to the failing endpoint used up its retries',
      async () => (await api('GET', `/api/deliveries?endpoint_id=${ids.failing}&status=failed`)).body.data,
    );
    ids.failedDelivery = failed.id;
    const [[row]] = await db
      .get()
      .pool.query<RowDataPacket[]>('SELECT MAX(id) AS id FROM wp_webhook_outbox WHERE rejected_reason IS NOT NULL');
    ids.rejectedRow = Number(row!.id);
    expect(ids.rejectedRow).to.be.greaterThan(0);
    await waitFor('the healthy endpoint got its three', () => ok.received.length >= 3);
  });

  /** Every admin page, with what makes it worth looking at. */
  const pages = () =>
    [
      ['dashboard', '/admin'],
      ['endpoints', '/admin/endpoints'],
      ['endpoint-new', '/admin/endpoints/new'],
      ['endpoint-healthy', `/admin/endpoints/${ids.ok}`],
      ['endpoint-failing', `/admin/endpoints/${ids.failing}`],
      ['endpoint-disabled', `/admin/endpoints/${ids.disabled}`],
      ['log', '/admin/deliveries'],
      ['log-filtered', '/admin/deliveries?event_type=order.*&status=failed'],
      ['log-bad-filter', '/admin/deliveries?since=yesterday'],
      ['delivery-failed', `/admin/deliveries/${ids.failedDelivery}`],
      ['events', '/admin/events'],
      ['events-rejected', '/admin/events?rejected=1'],
      ['event-rejected-row', `/admin/events/${ids.rejectedRow}`],
      ['settings', '/admin/settings'],
      ['erasure', '/admin/erasure'],
      ['not-found', '/admin/nowhere'],
    ] as const;

  it('passes axe (WCAG 2.2 AA) on every page, at 1280 px', async () => {
    await page.setViewportSize({ width: 1280, height: 900 });
    for (const [name, path] of pages()) {
      await page.goto(fx.sidecar.url + path);
      await axe(name);
      await shot(name, 1280);
    }
  });

  it('answers "what is wrong and for whom" on the rendered log and rows', async () => {
    await page.goto(`${fx.sidecar.url}/admin/deliveries?endpoint_id=${ids.failing}`);
    // The result count, the receiver's first line (blank lines skipped), and the endpoint named as the filter names it.
    expect(await page.textContent('#result-count')).to.match(/^\d+ deliver(y|ies) match(es)? these filters\.$/);
    const row = page.locator('table.list tbody tr').first();
    expect(await row.locator('[data-label="Last response"]').textContent()).to.match(
      /HTTP 500\s*Database is locked \(SQLITE_BUSY\)/,
    );
    expect(await row.locator('[data-label="Delivery"] .sub').textContent()).to.equal('Billing bridge');
    expect(await page.locator(`#f-endpoint option[value="${ids.failing}"]`).textContent()).to.equal('Billing bridge');
    // A bad filter names the field as labelled, and marks it.
    await page.goto(`${fx.sidecar.url}/admin/deliveries?since=yesterday`);
    expect(await page.textContent('#filter-error')).to.include(
      'From must be a date and time written as 2026-11-30 10:12 (UTC).',
    );
    expect(await page.getAttribute('#f-since', 'aria-invalid')).to.equal('true');
    expect(await page.getAttribute('#f-since', 'aria-describedby')).to.equal('f-when-hint filter-error');
    expect(await page.getAttribute('#f-until', 'aria-invalid')).to.equal(null);
    // The endpoint's page says what the receiver answered, in its words.
    await page.goto(`${fx.sidecar.url}/admin/endpoints/${ids.failing}`);
    expect(await page.textContent('#health')).to.match(
      /failing\s+since[\s\S]*Last error[\s\S]*HTTP 500, answering Database is locked \(SQLITE_BUSY\)/,
    );
    expect(await page.locator('#health q').textContent()).to.equal('Database is locked (SQLITE_BUSY)');
    // A rejected row's payload can be read, as written.
    await page.goto(`${fx.sidecar.url}/admin/events?rejected=1`);
    await page.click(`a[href="/admin/events/${ids.rejectedRow}"]`);
    expect(await page.textContent('#payload')).to.equal('{"order_id": "o_3", "amount": ');
    expect(await page.textContent('.facts')).to.match(/rejected\s+payload is not valid JSON/);
  });

  it('is driven by keyboard alone: skip link, create an endpoint with a wildcard, filter the log, replay', async () => {
    await page.goto(`${fx.sidecar.url}/admin`);
    // The first Tab reaches "Skip to content"; Enter on it puts the next Tab inside the page's content.
    await page.keyboard.press('Tab');
    expect((await focused()).text).to.equal('Skip to content');
    await page.keyboard.press('Enter');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => !!document.activeElement?.closest('main'))).to.equal(true);

    await tabTo('a[href="/admin/endpoints/new"], nav a[href="/admin/endpoints"]');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/admin\/endpoints$/);
    await tabTo('a[href="/admin/endpoints/new"]');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/admin\/endpoints\/new$/);

    // A bad URL first: the error summary takes focus, the field is marked invalid.
    await tabTo('#url');
    await page.keyboard.type('crm.example.com/hooks');
    await tabTo('input[value="enrollment.*"]');
    await page.keyboard.press('Space');
    // Enter on a checkbox does not submit half a form.
    await page.keyboard.press('Enter');
    await page.waitForTimeout(300);
    expect(page.url()).to.match(/\/admin\/endpoints\/new$/);
    expect(await page.isChecked('input[value="enrollment.*"]')).to.equal(true);
    await tabTo('button[type=submit].button--primary');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/admin\/endpoints$/);
    await page.waitForSelector('#error-summary');
    expect((await focused()).id).to.equal('error-summary');
    expect(await page.getAttribute('#url', 'aria-invalid')).to.equal('true');
    expect(await page.textContent('#url-error')).to.match(/^Endpoint URL must be a full web address/);
    await axe('endpoint-form-with-errors');
    await shot('endpoint-form-with-errors', 1280);

    await tabTo('#url');
    await page.keyboard.press('Control+A');
    await page.keyboard.type(`${ok.url}/kbd`);
    expect(await page.isChecked('input[value="enrollment.*"]')).to.equal(true);
    await tabTo('button[type=submit].button--primary');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/admin\/endpoints\/\d+\?notice=endpoint-created/);
    const created = Number(/endpoints\/(\d+)/.exec(page.url())![1]);
    expect((await api('GET', `/api/endpoints/${created}`)).body.events).to.deep.equal(['enrollment.*']);

    // The log, filtered with a wildcard typed by keyboard.
    await tabTo('nav a[href="/admin/deliveries"]');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/admin\/deliveries$/);
    await tabTo('#f-type');
    await page.keyboard.type('order.*');
    await page.keyboard.press('Enter');
    await page.waitForURL(/event_type=order\.\*/);
    const types = await page.locator('table.list tbody [data-label="Event"] code').allTextContents();
    expect(types.length).to.be.greaterThan(0);
    for (const t of types) expect(t).to.match(/^order\./);

    // Replay the first one from its page.
    const before = ok.received.length + bad.received.length;
    await tabTo('table.list tbody tr:has(.badge--ok) a[href^="/admin/deliveries/"]');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/admin\/deliveries\/\d+$/);
    await tabTo('button.button--primary');
    expect((await focused()).text).to.equal('Replay');
    await page.keyboard.press('Space');
    await page.waitForURL(/notice=replayed/);
    await waitFor('the replay reached a receiver', () => ok.received.length + bad.received.length > before);
  });

  it('puts the error summary at the top of the form that failed, focused and scrolled into view', async () => {
    await page.setViewportSize({ width: 1280, height: 900 });
    const summary = () =>
      page.evaluate(() => {
        const el = document.getElementById('error-summary');
        const r = el?.getBoundingClientRect();
        return {
          focused: document.activeElement === el,
          section: el?.closest('section, form')?.id || el?.closest('section, form')?.className || '',
          onScreen: !!r && r.top >= 0 && r.bottom <= window.innerHeight,
          count: document.querySelectorAll('#error-summary').length,
        };
      });
    const url = `${fx.sidecar.url}/admin/endpoints/${ids.failing}`;
    /** Opens the endpoint page, types `fill` (selector, text), presses `button`, and checks the summary heads `section`. */
    const failIn = async (button: string, section: string, fill?: [string, string]) => {
      await page.goto(url);
      if (fill) await page.fill(...fill);
      await page.click(`button:has-text("${button}")`);
      await page.waitForSelector('#error-summary');
      expect(await summary(), button).to.deep.equal({ focused: true, section, onScreen: true, count: 1 });
    };
    // The endpoint's settings form sits below its health, actions and history.
    await failIn('Save endpoint', 'card form', ['#url', 'not a url']);
    expect(await page.textContent('#error-summary')).to.include('Endpoint URL must be a full web address');
    // Replay failed since a time that is not one: the summary heads the actions.
    await failIn('Replay failed', 'actions', ['#since', 'yesterday']);
    expect(await page.inputValue('#since')).to.equal('yesterday');
    // Rotate without ticking the box, far down the page: the summary heads the secret's section.
    await failIn('Rotate secret', 'secret');
    expect(await page.getAttribute('#rotate_confirm', 'aria-invalid')).to.equal('true');
  });

  it('fits a 390 px screen: no sideways scroll, every key column shown as a labelled line, actions first', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    for (const [name, path] of pages()) {
      await page.goto(fx.sidecar.url + path);
      await shot(name, 390);
      // The first screen, as a phone shows it before any scrolling.
      await page.screenshot({ path: `${SCREENS}/${name}-390-first-screen.png` });
      const overflow = await page.evaluate(
        () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
      );
      expect(overflow, `${name}: page wider than the screen`).to.be.at.most(0);
      // Each row is a card: every cell visible, within the screen, with its column's name beside it.
      const cells = await page.evaluate(() =>
        [...document.querySelectorAll('table.list tbody td')].map((td) => {
          const r = td.getBoundingClientRect();
          return {
            label: td.getAttribute('data-label'),
            shown: r.width > 0 && r.height > 0 && r.right <= window.innerWidth,
            before: getComputedStyle(td, '::before').content,
          };
        }),
      );
      for (const c of cells) {
        expect(c.label, `${name}: a cell without data-label`).to.be.a('string');
        expect(c.shown, `${name}: ${c.label} cut off`).to.equal(true);
        expect(c.before, `${name}: ${c.label} has no label on a card`).to.equal(`"${c.label}"`);
      }
      const nav = await page.evaluate(() => document.querySelector('nav.sidebar')?.getBoundingClientRect().height ?? 0);
      expect(nav, `${name}: menu height`).to.be.below(100);
    }
    await page.goto(`${fx.sidecar.url}/admin/endpoints/${ids.failing}`);
    const y = (sel: string) =>
      page.evaluate((s) => document.querySelector(s)!.getBoundingClientRect().top + window.scrollY, sel);
    expect(await y('#actions')).to.be.below(await y('form.form input[name="url"]'));
    expect(await y('#actions')).to.be.below(900);
  });
});
