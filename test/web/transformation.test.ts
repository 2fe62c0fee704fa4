/**
 * The transformation box on an endpoint's page in Chromium: "Try it" shows
 * the request that would be sent (or the error) without saving, and Save
 * compiles the code first; an endpoint whose code keeps failing says its
 * deliveries wait, and until when.
 */
import { expect } from 'chai';
import { SCREENS, useAdminPage } from '../support/browser.js';
import { insertOutbox, useTestDb } from '../support/db.js';
import { ADMIN_PASSWORD, useSidecar } from '../support/sidecar.js';
import { waitFor } from '../support/wait.js';

describe('transformation on the endpoint page in Chromium', function () {
  this.timeout(60_000);
  const db = useTestDb('transformui');
  const fx = useSidecar(db);
  const admin = useAdminPage(() => fx.sidecar.url, ADMIN_PASSWORD);

  it('tries code on an example, shows the error of bad code with its line, and saves good code', async () => {
    const page = admin.page;
    const ep = await fx.endpoint('https://crm.example.com/intake', ['*']);
    await admin.signIn();
    await page.goto(`${fx.sidecar.url}/admin/endpoints/${ep.id}#transformation`);
    await page.fill(
      '#transformation-code',
      'function handler(webhook) {\n  var d = webhook.payload.data;\n  webhook.method = "PUT";\n  webhook.payload = { email: d.student_name, course: d.course_title };\n  return webhook;\n}',
    );
    await page.selectOption('#trial-type', 'enrollment.created');
    await page.click('button[value=try]');
    expect(await page.locator('#trial').textContent()).to.include('would send');
    expect(await page.locator('#trial code').nth(1).textContent()).to.equal('PUT https://crm.example.com/intake');
    expect(JSON.parse((await page.locator('#trial pre').textContent())!)).to.deep.equal({
      email: 'Ada Lovelace',
      course: 'Analytical Engines 101',
    });
    await page.locator('#transformation').screenshot({ path: `${SCREENS}/23-transformation.png` });
    expect((await fx.api('GET', `/api/endpoints/${ep.id}`)).body.transformation, 'trying saves nothing').to.equal(null);

    await page.fill('#transformation-code', 'function handler(webhook) {\n  return webhook.payload.data.nope.x;\n}');
    await page.click('button[value=try]');
    expect(await page.locator('#trial').textContent()).to.match(/fails.*TypeError.*\(line 2\)/s);
    await page.fill('#transformation-code', 'function handler(webhook) {\n  return webhook\n');
    await page.click('button[value=save]');
    expect(await page.locator('#transformation-error').textContent()).to.match(/^transformation: SyntaxError/);
    expect(await page.inputValue('#transformation-code')).to.equal('function handler(webhook) {\n  return webhook\n');

    await page.fill('#transformation-code', 'function handler(webhook) { webhook.cancel = true; return webhook; }');
    await page.click('button[value=save]');
    await page.waitForURL(/notice=transformation-saved/);
    expect((await fx.api('GET', `/api/endpoints/${ep.id}`)).body.transformation).to.equal(
      'function handler(webhook) { webhook.cancel = true; return webhook; }',
    );
  });

  it('says when code that keeps failing makes the deliveries wait, and until when', async () => {
    const page = admin.page;
    const ep = await fx.endpoint('https://crm.example.com/intake', ['course.*'], {
      transformation: 'function handler(webhook) { for (;;) {} }',
    });
    await insertOutbox(db.get().pool, [{ type: 'course.updated', payload: { course_id: 'c1' } }]);
    await waitFor(
      'backing off',
      async () => (await fx.api('GET', `/api/endpoints/${ep.id}`)).body.transformation_retry_at !== null,
    );
    await page.goto(`${fx.sidecar.url}/admin/endpoints/${ep.id}#transformation`);
    if (page.url().includes('/admin/login')) {
      await admin.signIn();
      await page.goto(`${fx.sidecar.url}/admin/endpoints/${ep.id}#transformation`);
    }
    const notice = (await page.locator('#transformation-backoff').textContent())!;
    expect(notice).to.match(
      /keeps failing \(5 failed runs in a row; a run stopped at its time or memory limit counts as 5\)/,
    );
    expect(notice).to.match(/runs again at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d/);
    await page.locator('#transformation').screenshot({ path: `${SCREENS}/24-transformation-backoff.png` });
  });
});
