/**
 * Chat messages: every catalog event's default renders to the shape each
 * provider documents, payload values stay data, long values are cut under
 * the limits, and provider answers are read as the providers document them.
 */
import { expect } from 'chai';
import {
  chatBody,
  checkTemplate,
  missingPlaceholders,
  readAnswer,
  renderText,
  templateView,
  TEST_PREFIX,
} from '../../src/delivery/chat.js';
import { CATALOG } from '../../src/catalog.js';
import { DEFAULT_TEMPLATES } from '../../src/delivery/chatTemplates.js';
import { CHAT_TYPES, type ChatType } from '../../src/types.js';

const envelope = (type: string, data: Record<string, unknown>) =>
  JSON.stringify({ id: 'evt_1', event: type, created_at: '2026-12-06T10:00:00.000Z', data });

interface SlackBody {
  text: string;
  blocks: { type: string; text: { type: string; text: string } }[];
}
interface DiscordBody {
  content: string;
  allowed_mentions: { parse: string[] };
}
interface TeamsBody {
  type: string;
  attachments: {
    contentType: string;
    content: { type: string; version: string; body: { type: string; text: string; wrap: boolean }[] };
  }[];
}

/** The message text of a body, after checking the body has the provider's documented shape. */
function textOf(type: ChatType, body: string): string {
  const j = JSON.parse(body) as unknown;
  if (type === 'slack') {
    const b = j as SlackBody;
    expect(b.text).to.be.a('string').and.not.equal('');
    expect(b.text.length).to.be.at.most(3000);
    expect(b.blocks).to.have.length(1);
    expect(b.blocks[0]!.type).to.equal('section');
    expect(b.blocks[0]!.text.type).to.equal('mrkdwn');
    expect(b.blocks[0]!.text.text.length).to.be.at.most(3000);
    return b.text;
  }
  if (type === 'discord') {
    const b = j as DiscordBody;
    expect(b.content).to.be.a('string').and.not.equal('');
    expect([...b.content].length).to.be.at.most(2000);
    expect(b.allowed_mentions).to.deep.equal({ parse: [] });
    return b.content;
  }
  const b = j as TeamsBody;
  expect(b.type).to.equal('message');
  expect(b.attachments).to.have.length(1);
  expect(b.attachments[0]!.contentType).to.equal('application/vnd.microsoft.card.adaptive');
  expect(b.attachments[0]!.content.type).to.equal('AdaptiveCard');
  expect(b.attachments[0]!.content.body[0]!.type).to.equal('TextBlock');
  expect(Buffer.byteLength(body)).to.be.below(28 * 1024);
  return b.attachments[0]!.content.body[0]!.text;
}

describe('chat messages', () => {
  it('renders every catalog event for every provider in the shape the provider documents, with its example data', () => {
    for (const type of CHAT_TYPES) {
      for (const entry of CATALOG) {
        const text = textOf(type, chatBody(type, null, envelope(entry.type, entry.example)));
        expect(text, `${type} ${entry.type}`).to.not.match(/\{\{|\}\}/);
        expect(text, `${type} ${entry.type}`).to.not.include('(empty message');
      }
    }
    const text = textOf('slack', chatBody('slack', null, envelope('enrollment.created', CATALOG[3]!.example)));
    expect(CATALOG[3]!.type).to.equal('enrollment.created');
    expect(text).to.equal('Ada Lovelace enrolled in Analytical Engines 101');
  });

  it('keeps payload values as data: no mention, link or formatting comes from a student name', () => {
    const name =
      '<!channel> @everyone <https://evil.example|click> **bold** _it_ ~s~ `code` [x](https://evil.example) {{DATE(x)}}';
    const env = envelope('enrollment.created', { student_name: name, course_title: 'Python' });
    const slack = textOf('slack', chatBody('slack', null, env));
    expect(slack).to.not.match(/[<>]/); // <!channel>, <@U…> and <url|label> need them
    expect(slack).to.include('&lt;!channel&gt;');
    expect(slack).to.not.include('@everyone');
    for (const m of slack.matchAll(/[*_~`]/g)) {
      expect(slack[m.index - 1], 'before a marker').to.equal('\u200b');
      expect(slack[m.index + 1], 'after a marker').to.equal('\u200b');
    }
    const discord = JSON.parse(chatBody('discord', null, env)) as DiscordBody;
    expect(discord.allowed_mentions.parse).to.deep.equal([]);
    expect(discord.content).to.not.match(/(?<!\\)[*_~`|<>[\]()]/);
    expect(discord.content).to.not.include('@everyone');
    const teams = textOf('teams', chatBody('teams', null, env));
    expect(teams).to.not.match(/(?<!\\)[*_~`[\]()!{}]/);
    expect(teams).to.not.include('@everyone');
  });

  it('leaves the operator’s own formatting alone', () => {
    const text = renderText('slack', '*New:* {{student_name}} <https://lms.example|open>', { student_name: 'Ada' });
    expect(text).to.equal('*New:* Ada <https://lms.example|open>');
  });

  it('cuts a long value with "…" under each provider’s limit, never inside a character', () => {
    const env = envelope('enrollment.created', { student_name: '😀'.repeat(20_000), course_title: 'x' });
    for (const type of CHAT_TYPES) {
      const text = textOf(type, chatBody(type, null, env));
      expect(text.endsWith('…'), type).to.equal(true);
      expect(text, type).to.not.match(/[\ud800-\udbff](?![\udc00-\udfff])/); // no lone high surrogate
    }
  });

  it('refuses templates that would insert a value unescaped, include a partial, or do not parse', () => {
    expect(() => checkTemplate('{{{student_name}}}', 'templates.enrollment.created')).to.throw(
      /templates.enrollment.created: \{\{\{student_name\}\}\}.*use \{\{student_name\}\}/,
    );
    expect(() => checkTemplate('{{&student_name}}', 't')).to.throw(/unescaped/);
    expect(() => checkTemplate('{{> other}}', 't')).to.throw(/partial/);
    expect(() => checkTemplate('{{#open}} never closed', 't')).to.throw(/does not parse/);
    expect(() => checkTemplate('{{student_name}} enrolled', 't')).to.not.throw();
  });

  it('names the placeholders an event’s data does not have', () => {
    const view = templateView(envelope('enrollment.created', { student_name: 'Ada', course: { title: 'Py' } }));
    expect(
      missingPlaceholders('{{student_name}} {{course.title}} {{course.url}} {{nope}} {{event.id}}', view),
    ).to.deep.equal(['course.url', 'nope']);
  });

  it('does not count conditions, or a value shown only when set, as missing', () => {
    const view = templateView(envelope('quiz.submitted', { score: 8 }));
    expect(
      missingPlaceholders(
        '{{#quiz_title}}{{quiz_title}}{{/quiz_title}}{{^quiz_title}}quiz {{quiz_id}}{{/quiz_title}}: {{score}}',
        view,
      ),
    ).to.deep.equal(['quiz_id']);
    for (const entry of CATALOG)
      expect(
        missingPlaceholders(DEFAULT_TEMPLATES[entry.type] ?? '', templateView(envelope(entry.type, entry.example))),
        entry.type,
      ).to.deep.equal([]);
  });

  it('renders "Send test message" as the chosen type’s template, marked as a test', () => {
    const env = envelope('webhook.test', {
      endpoint_id: 1,
      message: 'm',
      preview: { type: 'enrollment.created', data: { student_name: 'Ada', course_title: 'Py' } },
    });
    const text = textOf(
      'discord',
      chatBody('discord', { 'enrollment.created': '{{student_name}} joined {{course_title}}' }, env),
    );
    expect(text).to.equal(`${TEST_PREFIX}Ada joined Py`);
  });

  it('reads each provider’s answers as documented', () => {
    const answer = (statusCode: number, body: string, headers: Record<string, string> = {}) => ({
      statusCode,
      headers,
      body,
    });
    expect(readAnswer('slack', answer(200, 'ok'))).to.equal(null);
    for (const code of ['invalid_payload', 'no_text', 'missing_text_or_fallback_or_attachments'])
      expect(readAnswer('slack', answer(400, code))).to.include({ kind: 'rejected' });
    expect(readAnswer('slack', answer(403, 'action_prohibited'))).to.deep.include({ kind: 'gone' });
    expect(readAnswer('slack', answer(404, 'channel_not_found'))!.kind).to.equal('gone');
    expect(readAnswer('slack', answer(404, 'no_service')))
      .to.have.property('reason')
      .that.includes('no_service');
    expect(readAnswer('slack', answer(410, 'channel_is_archived'))!.kind).to.equal('gone');
    expect(readAnswer('slack', answer(429, 'rate_limited', { 'retry-after': '30' }))).to.equal(null);
    expect(readAnswer('slack', answer(500, 'rollup_error'))).to.equal(null);

    expect(readAnswer('discord', answer(204, ''))).to.equal(null);
    const limited = readAnswer(
      'discord',
      answer(429, '{"message": "You are being rate limited.", "retry_after": 1.5, "global": false}', {
        'retry-after': '2',
      }),
    );
    expect(limited).to.deep.equal({ kind: 'retry_after', ms: 1500 });
    expect(readAnswer('discord', answer(404, '{"message": "Unknown Webhook", "code": 10015}'))).to.deep.equal({
      kind: 'gone',
      reason: 'Discord answered 404 Unknown Webhook (code 10015): the webhook no longer takes messages',
    });
    expect(readAnswer('discord', answer(401, '{"message": "401: Unauthorized", "code": 0}'))!.kind).to.equal('gone');
    expect(readAnswer('discord', answer(403, '{"message": "Missing Access", "code": 50001}'))!.kind).to.equal('gone');
    expect(
      readAnswer('discord', answer(400, '{"message": "Cannot send an empty message", "code": 50006}'))!.kind,
    ).to.equal('rejected');

    expect(readAnswer('teams', answer(202, ''))).to.equal(null);
    expect(
      readAnswer('teams', answer(400, '{"error":{"code":"InvalidRequestContent","message":"bad"}}'))!.kind,
    ).to.equal('rejected');
    expect(readAnswer('teams', answer(404, '{"error":{"code":"WorkflowNotFound","message":"gone"}}'))).to.deep.equal({
      kind: 'gone',
      reason: 'Microsoft Teams answered 404 WorkflowNotFound: gone: the webhook no longer takes messages',
    });
  });
});
