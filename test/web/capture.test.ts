/**
 * The Sikshya capture page in Chromium: state before, install, the
 * triggers listed as installed, removal only when confirmed.
 */
import { expect } from 'chai';
import { SCREENS, useAdminPage } from '../support/browser.js';
import { useTestDb } from '../support/db.js';
import { ADMIN_PASSWORD, useSidecar } from '../support/sidecar.js';
import { createSikshyaTables } from '../support/sikshya.js';

describe('Sikshya capture page in Chromium', function () {
  this.timeout(60_000);
  const db = useTestDb('captureui');
  const fx = useSidecar(db);
  const admin = useAdminPage(() => fx.sidecar.url, ADMIN_PASSWORD);

  it('says Sikshya is missing, then installs and removes the triggers', async () => {
    const page = admin.page;
    await admin.signIn();
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
