/**
 * The Sikshya capture page in Chromium: state before, install, the
 * triggers listed as installed, removal only when confirmed.
 */
import { expect } from 'chai';
import { mkdirSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/browser.js';
import { useTestDb } from '../support/db.js';
import { ADMIN_PASSWORD, useSidecar } from '../support/sidecar.js';
import { createSikshyaTables } from '../support/sikshya.js';

const SCREENS = 'test-artifacts/screens';

describe('Sikshya capture page in Chromium', function () {
  this.timeout(60_000);
  const db = useTestDb('captureui');
  const fx = useSidecar(db);
  let browser: Browser;
  let page: Page;

  before(async () => {
    mkdirSync(SCREENS, { recursive: true });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  });
  after(async () => {
    await browser?.close();
  });

  it('says Sikshya is missing, then installs and removes the triggers', async () => {
    await page.goto(`${fx.sidecar.url}/admin/login`);
    await page.fill('#password', ADMIN_PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL(/\/admin$/);
    await page.click('nav >> text=Events');
    await page.click('text=Sikshya capture');
    expect(await page.locator('#capture-title + p + p').textContent()).to.include(
      "Sikshya's tables are not in this database",
    );
    expect(await page.locator('button:has-text("Install capture")').count()).to.equal(0);

    await createSikshyaTables(db.get().pool, 'wp_');
    await page.reload();
    expect(await page.locator('main strong, #main strong').first().textContent()).to.equal('Not capturing');
    await page.click('button:has-text("Install capture")');
    expect(await page.textContent('.notice')).to.include('Sikshya capture installed: 12 triggers');
    expect(await page.locator('td[data-label="State"] .badge--ok').count()).to.equal(12);
    await page.screenshot({ path: `${SCREENS}/22-sikshya-capture.png`, fullPage: true });

    await page.click('button:has-text("Remove capture")');
    expect(await page.textContent('.notice')).to.include('Tick the box to remove');
    expect(await page.locator('td[data-label="State"] .badge--ok').count()).to.equal(12);
    await page.check('input[name=confirm]');
    await page.click('button:has-text("Remove capture")');
    expect(await page.textContent('.notice')).to.include('Removed 12 capture triggers');
    expect(await page.locator('td[data-label="State"] .badge--off').count()).to.equal(12);
  });
});
