/**
 * The admin UI in headless Chromium (Debian's, driven by playwright-core), as
 * an operator would use it. Saves a screenshot of each page under
 * test-artifacts/screens/ (git-ignored) for a human to look at.
 */
import { expect } from 'chai';
import { mkdirSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/browser.js';
import { useTestDb } from '../support/db.js';
import { ADMIN_PASSWORD, useSidecar } from '../support/sidecar.js';
import type { Receiver } from '../support/receiver.js';
import { waitFor } from '../support/wait.js';

const SCREENS = 'test-artifacts/screens';

describe('admin UI in Chromium', function () {
  this.timeout(90_000);
  const db = useTestDb('e2e');
  const fx = useSidecar(db);
  let receiver: Receiver;
  let browser: Browser;
  let page: Page;

  before(async () => {
    mkdirSync(SCREENS, { recursive: true });
    receiver = await fx.receiver();
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  });

  after(async () => {
    await browser?.close();
  });

  const shot = (name: string) => page.screenshot({ path: `${SCREENS}/${name}.png`, fullPage: true });

  it('logs in, creates an endpoint, sends a test event, finds and replays it, and changes a setting', async () => {
    await page.goto(`${fx.sidecar.url}/admin`);
    expect(page.url()).to.match(/\/admin\/login\?next=%2Fadmin$/);
    await shot('01-login');
    await page.fill('#password', ADMIN_PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL(/\/admin$/);
    expect(await page.textContent('h1')).to.equal('Dashboard');
    await shot('02-dashboard-empty');

    await page.click('nav >> text=Endpoints');
    await page.click('text=Add endpoint');
    await page.fill('#url', `${receiver.url}/lms-hooks`);
    await page.fill('#description', 'CRM sync');
    await page.check('input[name=events][value="enrollment.created"]');
    await page.check('input[name=events][value="order.completed"]');
    await shot('03-endpoint-new');
    await page.click('button:has-text("Add endpoint")');
    await page.waitForURL(/\/admin\/endpoints\/\d+\?notice=endpoint-created/);
    expect(await page.textContent('.notice')).to.include('Endpoint created');
    expect(await page.isChecked('input[name=events][value="enrollment.created"]')).to.equal(true);
    expect(await page.isChecked('input[name=events][value="order.completed"]')).to.equal(true);
    expect(await page.isVisible('#secret-value')).to.equal(false);
    await page.click('summary:has-text("Reveal secret")');
    const secret = await page.textContent('#secret-value');
    expect(secret).to.match(/^whsec_/);

    await page.click('button:has-text("Send test event")');
    await page.waitForURL(/notice=test-sent/);
    const first = await waitFor('test event received', () => receiver.received[0]);
    expect(first.json.event).to.equal('webhook.test');
    await page.reload();
    await shot('04-endpoint-after-test');

    await page.click('nav >> text=Delivery log');
    await page.fill('#f-type', 'webhook.test');
    await page.click('button:has-text("Filter")');
    await page.waitForURL(/event_type=webhook.test/);
    const row = page.locator('table.list tbody tr').first();
    expect(await row.textContent()).to.include(first.json.id);
    await shot('05-delivery-log');
    await row.locator('a').first().click();
    await page.waitForURL(/\/admin\/deliveries\/\d+$/);
    expect(await page.textContent('pre.code')).to.include(`"id": "${first.json.id}"`);
    expect(await page.textContent('.attempt')).to.include('HTTP 200');
    await shot('06-delivery-detail');

    await page.click('button:has-text("Replay")');
    await page.waitForURL(/notice=replayed/);
    const second = await waitFor('replayed request', () => receiver.received[1]);
    expect(second.json.id).to.equal(first.json.id);
    await waitFor('second attempt shown', async () => {
      await page.reload();
      return (await page.locator('.attempt').count()) === 2;
    });
    await shot('07-delivery-replayed');

    await page.click('nav >> text=Settings');
    await page.fill('#timeout_seconds', '5');
    await page.fill('#retry_schedule_seconds', '60, 300, 1800');
    await page.click('button:has-text("Save settings")');
    await page.waitForURL(/notice=settings-saved/);
    expect(await page.inputValue('#timeout_seconds')).to.equal('5');
    await shot('08-settings-saved');
    const settings = (await fx.api('GET', '/api/settings')).body;
    expect(settings.timeout_seconds).to.equal(5);
    expect(settings.retry_schedule_seconds).to.deep.equal([60, 300, 1800]);

    await page.click('nav >> text=Events');
    await shot('09-events');
    await page.click('nav >> text=Dashboard');
    await shot('10-dashboard');
    await page.click('nav >> text=Endpoints');
    await shot('11-endpoints');
  });

  it('is readable on a phone-sized screen', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    for (const [name, path] of [
      ['12-phone-endpoints', '/admin/endpoints'],
      ['13-phone-log', '/admin/deliveries'],
      ['14-phone-dashboard', '/admin'],
    ] as const) {
      await page.goto(fx.sidecar.url + path);
      // Nothing wider than the screen: the layout reflows instead of scrolling sideways.
      const overflow = await page.evaluate(
        () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
      );
      expect(overflow, path).to.be.at.most(0);
      await shot(name);
    }
  });
});
