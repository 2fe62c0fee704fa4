/**
 * Debian's Chromium through playwright-core (no browser download): headless,
 * with the background services off, as this machine's closed network needs.
 */
import { mkdirSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/**
 * One Chromium page for a describe(): launched before, closed after, with
 * test-artifacts/screens/ ready for screenshots. `signIn` logs in with
 * ADMIN_PASSWORD at `baseUrl()`.
 */
export function useAdminPage(baseUrl: () => string, password: string) {
  let browser: Browser | undefined;
  let page: Page | undefined;
  before(async () => {
    mkdirSync(SCREENS, { recursive: true });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  });
  after(async () => {
    await browser?.close();
  });
  return {
    get page(): Page {
      if (!page) throw new Error('the page is not open yet');
      return page;
    },
    async signIn(): Promise<void> {
      await this.page.goto(`${baseUrl()}/admin/login`);
      await this.page.fill('#password', password);
      await this.page.click('button[type=submit]');
      await this.page.waitForURL(/\/admin$/);
    },
  };
}

/** Where page tests save their screenshots (git-ignored). */
export const SCREENS = 'test-artifacts/screens';
