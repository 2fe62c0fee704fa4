/**
 * The API keys page in Chromium: a key made there is shown once and works
 * in its scope; afterwards it appears nowhere (pages, /metrics, the log
 * at debug level), and revoking it is one button.
 */
import { expect } from 'chai';
import { mkdirSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/browser.js';
import { useTestDb } from '../support/db.js';
import { ADMIN_PASSWORD, apiClient, testEnv } from '../support/sidecar.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { startSidecar, type Sidecar } from '../../src/sidecar.js';

const SCREENS = 'test-artifacts/screens';

describe('API keys page in Chromium', function () {
  this.timeout(90_000);
  const db = useTestDb('apikeys');
  const logLines: string[] = [];
  let sidecar: Sidecar;
  let browser: Browser;
  let page: Page;

  before(async () => {
    mkdirSync(SCREENS, { recursive: true });
    sidecar = await startSidecar(
      loadConfig(testEnv(db.get().url)),
      createLogger('debug', (line) => logLines.push(line)),
      { print: () => {} },
    );
    db.get().beforeDrop(() => sidecar.stop());
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  });
  after(async () => {
    await browser?.close();
  });

  it('makes a hooks key shown once, which works only in its scope, never shows again, and is revoked with a click', async () => {
    await page.goto(`${sidecar.url}/admin/login`);
    await page.fill('#password', ADMIN_PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForURL(/\/admin$/);
    await page.click('nav >> text=API keys');
    expect(await page.textContent('h1')).to.equal('API keys');
    await page.click('button:has-text("Make key")');
    expect(await page.locator('#name-error').textContent()).to.match(/Name/);
    await page.fill('#name', 'Zapier for the marketing team');
    await page.selectOption('#scope', 'hooks');
    await page.click('button:has-text("Make key")');
    const key = (await page.locator('#new-key').textContent())!;
    expect(key).to.match(/^whk_[A-Za-z0-9_-]{32}$/);
    await page.screenshot({ path: `${SCREENS}/21-api-keys.png`, fullPage: true });

    const api = apiClient(sidecar.url);
    expect((await api('GET', '/api/me', undefined, key)).body).to.deep.equal({
      name: 'Zapier for the marketing team',
      scope: 'hooks',
      key_id: 1,
    });
    expect((await api('GET', '/api/endpoints', undefined, key)).status).to.equal(403);
    const hook = await api('POST', '/api/hooks', { target_url: 'https://hooks.zapier.com/h/1', event: '*' }, key);
    expect(hook.status).to.equal(201);

    // The hook's own page: saving its form leaves it a REST hook.
    await page.goto(`${sidecar.url}/admin/endpoints/${hook.body.id}`);
    expect(await page.locator('#main').textContent()).to.include('Zapier REST hook');
    await page.click('button:has-text("Save endpoint")');
    await page.waitForURL(/notice=endpoint-saved/);
    expect((await api('GET', `/api/endpoints/${hook.body.id}`)).body.type).to.equal('zapier');

    await page.goto(`${sidecar.url}/admin/api-keys`);
    const listed = await page.content();
    expect(listed).to.not.include(key);
    expect(listed).to.include(`whk_…${key.slice(-4)}`);
    expect(await page.locator('td[data-label="REST hooks"]').textContent()).to.equal('1');
    expect(await page.locator('td[data-label="Last used"]').textContent()).to.not.equal('never');
    await page.goto(`${sidecar.url}/admin/endpoints`);
    expect(await page.content()).to.not.include(key);
    const metrics = await (await fetch(`${sidecar.url}/metrics`)).text();
    expect(metrics).to.not.include(key);

    await page.goto(`${sidecar.url}/admin/api-keys`);
    await page.click('button:has-text("Revoke")');
    expect(await page.textContent('.notice')).to.include('1 REST hook it made is disabled');
    expect(await page.locator('td[data-label="State"]').textContent()).to.include('revoked');
    expect((await api('GET', '/api/me', undefined, key)).status).to.equal(401);

    expect(logLines.length, 'the log was captured').to.be.above(5);
    const log = logLines.join('\n');
    expect(log).to.not.include(key);
    expect(log).to.not.include(key.slice(4));
  });
});
