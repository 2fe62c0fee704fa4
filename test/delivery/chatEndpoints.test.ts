/**
 * Slack, Discord and Teams endpoints through the whole pipeline, against
 * receivers that answer as each provider documents.
 */
import { expect } from 'chai';
import { insertOutbox, useTestDb } from '../support/db.js';
import { FAST_RETRIES, useSidecar } from '../support/sidecar.js';
import {
  discordAnswer,
  slackAnswer,
  teamsAnswer,
  type DiscordMode,
  type SlackMode,
  type TeamsMode,
} from '../support/chatProviders.js';
import { deliveriesSettled } from '../support/sidecar.js';
import { waitFor } from '../support/wait.js';
import { CATALOG } from '../../src/catalog.js';

describe('chat endpoints', function () {
  this.timeout(90_000);
  const db = useTestDb('chat');
  const fx = useSidecar(db);
  const { api } = fx;

  before(async () => {
    expect((await api('PATCH', '/api/settings', FAST_RETRIES)).status).to.equal(200);
  });
  afterEach(() => fx.reset());

  const deliveries = async (endpointId: number) =>
    (await api('GET', `/api/deliveries?endpoint_id=${endpointId}`)).body.data as {
      id: number;
      status: string;
      attempts: number;
      event_type: string;
    }[];

  it('sends 20 catalog events to Slack as valid messages, at most one per second, a "<!channel> @everyone" inert', async () => {
    const mode: SlackMode = 'ok';
    const slack = await fx.receiver(slackAnswer(() => mode));
    const ep = await fx.endpoint(`${slack.url}/services/T000/B000/XXXX`, ['*'], { type: 'slack' });
    expect((await api('GET', `/api/endpoints/${ep.id}`)).body).to.include({
      type: 'slack',
      rate_limit_per_second: null,
    });
    const events = CATALOG.filter((c) => !c.type.startsWith('webhook.')).slice(0, 19);
    await insertOutbox(db.get().pool, [
      ...events.map((c) => ({ type: c.type, payload: c.example })),
      { type: 'enrollment.created', payload: { student_name: '<!channel> @everyone', course_title: 'Python' } },
    ]);
    await waitFor('20 messages', () => slack.received.length >= 20, 40_000);
    await deliveriesSettled(db.get().pool);
    const list = await deliveries(ep.id);
    expect(list.map((d) => d.status)).to.deep.equal(Array(20).fill('succeeded'));
    for (const r of slack.received)
      expect((r.json as unknown as { text: string }).text)
        .to.be.a('string')
        .and.not.equal('');
    // Paced: no two requests less than ~1 s apart (a little slack for timers).
    const at = slack.received.map((r) => r.at).sort((a, b) => a - b);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    expect(Math.min(...gaps), `gaps ${gaps.join(',')}`).to.be.at.least(900);
    const last = slack.received.find((r) => r.raw.toString().includes('Python'))!;
    const text = (last.json as unknown as { text: string }).text;
    expect(text).to.include('&lt;!channel&gt;');
    expect(text).to.not.include('<!channel>');
    expect(text).to.not.include('@everyone');
    // Signed like any delivery, over the bytes sent.
    expect(last.headers['x-webhook-signature']).to.be.a('string');
    expect(mode).to.equal('ok');
  });

  it("Slack 410 channel_is_archived disables the endpoint at once with Slack's words; nothing is dropped", async () => {
    const slack = await fx.receiver(slackAnswer(() => 'channel_is_archived'));
    const ep = await fx.endpoint(`${slack.url}/services/T/B/X`, ['enrollment.*'], {
      type: 'slack',
      rate_limit_per_second: 50,
    });
    await insertOutbox(db.get().pool, [
      { type: 'enrollment.created', payload: { student_name: 'Bo' } },
      { type: 'enrollment.completed', payload: { student_name: 'Cy' } },
    ]);
    await waitFor('disabled', async () => (await api('GET', `/api/endpoints/${ep.id}`)).body.enabled === false);
    const back = (await api('GET', `/api/endpoints/${ep.id}`)).body;
    expect(back.disabled_reason).to.equal(
      'Slack answered 410 channel_is_archived: the webhook no longer takes messages',
    );
    await deliveriesSettled(db.get().pool);
    expect((await deliveries(ep.id)).map((d) => d.status)).to.deep.equal(['paused', 'paused']);
  });

  it('Slack invalid_payload / no_text count as our fault: failed at once, the endpoint stays healthy', async () => {
    const slack = await fx.receiver(() => ({ status: 400, body: 'no_text', headers: { 'content-type': 'text/html' } }));
    const ep = await fx.endpoint(`${slack.url}/services/T/B/X`, ['order.*'], {
      type: 'slack',
      rate_limit_per_second: 50,
    });
    await insertOutbox(db.get().pool, [{ type: 'order.created', payload: { order_id: 'o1' } }]);
    await waitFor('failed', async () => (await deliveries(ep.id))[0]?.status === 'failed');
    const [d] = await deliveries(ep.id);
    expect(d!.attempts).to.equal(1);
    const detail = (await api('GET', `/api/deliveries/${d!.id}`)).body;
    expect(detail.attempt_log[0]).to.include({ error_class: 'message_rejected' });
    expect(detail.attempt_log[0].error_message).to.equal(
      'Slack answered 400 no_text: it refused the message the template rendered',
    );
    const back = (await api('GET', `/api/endpoints/${ep.id}`)).body;
    expect(back).to.include({ enabled: true, failing_since: null });
  });

  it('Discord: 204 succeeds, 429 waits retry_after (2.5 s) then succeeds, 401 stops after one request, 404 Unknown Webhook disables', async () => {
    let mode: DiscordMode = 'rate_limited';
    const discord = await fx.receiver((r) => {
      const reply = discordAnswer(() => mode)(r);
      if (mode === 'rate_limited') mode = 'ok';
      return reply;
    });
    // Discord's own pacing (one request every 2 s): a 401 is the last request, nothing else is in flight.
    const ep = await fx.endpoint(`${discord.url}/api/webhooks/1/tok`, ['quiz.*'], { type: 'discord' });
    await insertOutbox(db.get().pool, [
      { type: 'quiz.submitted', payload: { student_name: '@everyone', score: 9, max_score: 10 } },
    ]);
    const first = await waitFor('rate limited once', async () => {
      const [d] = await deliveries(ep.id);
      if (d?.attempts !== 1 || d.status !== 'pending') return null;
      return (await api('GET', `/api/deliveries/${d.id}`)).body as {
        next_attempt_at: string;
        attempt_log: { started_at: string; duration_ms: number }[];
      };
    });
    const a = first.attempt_log[0]!;
    const delay = Date.parse(first.next_attempt_at) - (Date.parse(a.started_at) + a.duration_ms);
    expect(delay, 'retry_after 2.5 s, not the 1 s schedule or the whole-second header').to.be.within(2400, 2700);
    await waitFor('succeeded', async () => (await deliveries(ep.id))[0]?.status === 'succeeded');
    expect(discord.received).to.have.length(2);
    const body = discord.received[1]!.json as unknown as { content: string; allowed_mentions: unknown };
    expect(body.allowed_mentions).to.deep.equal({ parse: [] });
    expect(body.content).to.not.include('@everyone');

    mode = 'unauthorized';
    await insertOutbox(db.get().pool, [
      { type: 'quiz.submitted', payload: { n: 1 } },
      { type: 'quiz.submitted', payload: { n: 2 } },
      { type: 'quiz.submitted', payload: { n: 3 } },
    ]);
    await waitFor('disabled', async () => (await api('GET', `/api/endpoints/${ep.id}`)).body.enabled === false);
    await deliveriesSettled(db.get().pool);
    expect(discord.received.length, 'one 401, then no more requests').to.equal(3);
    expect((await api('GET', `/api/endpoints/${ep.id}`)).body.disabled_reason).to.equal(
      'Discord answered 401 401: Unauthorized (code 0): the webhook no longer takes messages',
    );

    mode = 'unknown_webhook';
    expect((await api('PATCH', `/api/endpoints/${ep.id}`, { enabled: true })).status).to.equal(200);
    await waitFor('disabled again', async () => (await api('GET', `/api/endpoints/${ep.id}`)).body.enabled === false);
    expect((await api('GET', `/api/endpoints/${ep.id}`)).body.disabled_reason).to.match(
      /404 Unknown Webhook \(code 10015\)/,
    );
  });

  it('Teams: an Adaptive Card message, 202 succeeds; a removed flow (404) disables the endpoint', async () => {
    let mode: TeamsMode = 'ok';
    const teams = await fx.receiver(teamsAnswer(() => mode));
    const ep = await fx.endpoint(
      `${teams.url}/workflows/abc/triggers/manual/paths/invoke?sig=x`,
      ['certificate.issued'],
      {
        type: 'teams',
        rate_limit_per_second: 50,
      },
    );
    await insertOutbox(db.get().pool, [
      { type: 'certificate.issued', payload: { student_name: 'Ada', course_title: 'Py' } },
    ]);
    await waitFor('succeeded', async () => (await deliveries(ep.id))[0]?.status === 'succeeded');
    const card = teams.received[0]!.json as unknown as {
      attachments: { content: { body: { text: string }[] } }[];
    };
    expect(card.attachments[0]!.content.body[0]!.text).to.equal('Ada earned a certificate for Py');
    mode = 'flow_gone';
    await insertOutbox(db.get().pool, [{ type: 'certificate.issued', payload: { student_name: 'Bo' } }]);
    await waitFor('disabled', async () => (await api('GET', `/api/endpoints/${ep.id}`)).body.enabled === false);
    expect((await api('GET', `/api/endpoints/${ep.id}`)).body.disabled_reason).to.equal(
      'Microsoft Teams answered 404 WorkflowNotFound: The workflow was not found.: the webhook no longer takes messages',
    );
  });

  it('refuses a template that would insert a value unescaped, naming the event type', async () => {
    const res = await api('POST', '/api/endpoints', {
      url: 'https://hooks.slack.com/services/T/B/X',
      events: ['*'],
      type: 'slack',
      templates: { 'enrollment.created': '{{{student_name}}} enrolled' },
    });
    expect(res.status).to.equal(400);
    expect(res.body.error.message).to.match(/templates\.enrollment\.created: \{\{\{student_name\}\}\}/);
  });
});
