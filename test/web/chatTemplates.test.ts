/**
 * A Slack endpoint made and tuned in Chromium: the "Sends" choice, the
 * template editor's preview (live as you type), the placeholders the
 * example lacks, "Send test message" for real, and a refused template.
 * Saves screenshots under test-artifacts/screens/.
 */
import { expect } from 'chai';
import { SCREENS, useAdminPage } from '../support/browser.js';
import { useTestDb } from '../support/db.js';
import { ADMIN_PASSWORD, useSidecar } from '../support/sidecar.js';
import { slackAnswer } from '../support/chatProviders.js';
import { waitFor } from '../support/wait.js';

describe('chat message templates in Chromium', function () {
  this.timeout(90_000);
  const db = useTestDb('chatui');
  const fx = useSidecar(db);
  const admin = useAdminPage(() => fx.sidecar.url, ADMIN_PASSWORD);

  it('makes a Slack endpoint, previews a template as it is typed, sends a test message and saves it', async () => {
    const page = admin.page;
    const slack = await fx.receiver(slackAnswer(() => 'ok'));
    await admin.signIn();

    await page.goto(`${fx.sidecar.url}/admin/endpoints/new`);
    await page.fill('#url', `${slack.url}/services/T000/B000/XXXX`);
    await page.selectOption('#type', 'slack');
    await page.check('input[name=events][value="enrollment.created"]');
    await page.check('input[name=events][value="quiz.submitted"]');
    await page.click('button:has-text("Add endpoint")');
    await page.waitForURL(/\/admin\/endpoints\/\d+\?notice=endpoint-created/);
    const id = Number(/endpoints\/(\d+)/.exec(page.url())![1]);
    expect((await fx.api('GET', `/api/endpoints/${id}`)).body.type).to.equal('slack');

    await page.goto(`${fx.sidecar.url}/admin/endpoints`);
    expect(await page.locator(`tr:has(a[href="/admin/endpoints/${id}"]) .badge`).first().textContent()).to.equal(
      'Slack',
    );
    await page.goto(`${fx.sidecar.url}/admin/endpoints/${id}`);
    const boxes = page.locator('#templates textarea');
    expect(await boxes.count()).to.equal(2);
    const enrolled = page.locator('textarea[data-event-type="enrollment.created"]');
    const preview = page.locator('#preview-0 .preview__example');
    expect(await preview.textContent()).to.equal('Ada Lovelace enrolled in Analytical Engines 101');

    await enrolled.fill('New student: *{{student_name}}* in {{course_title}} {{cohort}}');
    await waitFor('the live preview', async () => (await preview.textContent())?.startsWith('New student: *Ada'));
    expect(await preview.textContent()).to.equal('New student: *Ada Lovelace* in Analytical Engines 101');
    expect(await page.locator('#preview-0 .preview__missing').textContent()).to.include('{{cohort}}');
    await page.locator('#templates').screenshot({ path: `${SCREENS}/20-chat-templates.png` });

    await page.click('#templates button[name=event_type][value="enrollment.created"]');
    await page.waitForURL(/notice=test-sent/);
    const sent = await waitFor('the test message', () => slack.received[0]);
    expect((sent.json as unknown as { text: string }).text).to.equal(
      '[test] New student: *Ada Lovelace* in Analytical Engines 101',
    );
    expect(await page.locator('label[for=template-0]').textContent()).to.include('(your own)');
    expect((await fx.api('GET', `/api/endpoints/${id}`)).body.templates).to.deep.equal({
      'enrollment.created': 'New student: *{{student_name}}* in {{course_title}} {{cohort}}',
    });

    await page.locator('textarea[data-event-type="quiz.submitted"]').fill('{{{student_name}}} scored');
    await page.click('button:has-text("Save templates")');
    expect(await page.locator('#templates-error').textContent()).to.match(
      /templates\.quiz\.submitted: \{\{\{student_name\}\}\}/,
    );
    expect(await page.locator('textarea[data-event-type="quiz.submitted"]').inputValue()).to.equal(
      '{{{student_name}}} scored',
    );
    expect(await page.locator('textarea[data-event-type="quiz.submitted"]').inputValue()).to.equal(
      '{{{student_name}}} scored',
    );
    // An emptied box goes back to the default.
    await page.locator('textarea[data-event-type="quiz.submitted"]').fill('');
    await enrolled.fill('');
    await page.click('button:has-text("Save templates")');
    await page.waitForURL(/notice=templates-saved/);
    expect((await fx.api('GET', `/api/endpoints/${id}`)).body.templates).to.equal(null);
  });
});
