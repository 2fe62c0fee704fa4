/**
 * Chat endpoints: the message a Slack, Discord or Teams webhook takes,
 * rendered from a Mustache template over the event's data, and what each
 * provider's answers mean. Payload values are data, never markup: every
 * value is escaped by the provider's rules as it is put in (templates are
 * the operator's and keep their own formatting), mentions cannot fire, and
 * a long message is cut with "…" under the provider's size limits rather
 * than refused. Pure.
 */
import Mustache from 'mustache';
import { DEFAULT_TEMPLATES, FALLBACK_TEMPLATE } from './chatTemplates.js';
import { ValidationError } from '../errors.js';
import type { ChatType } from '../types.js';

/** What the admin and the API call each provider. */
export const PROVIDER_NAMES: Readonly<Record<ChatType, string>> = {
  slack: 'Slack',
  discord: 'Discord',
  teams: 'Microsoft Teams',
};

/** Longest template an operator may save: well past any message a provider takes. */
export const MAX_TEMPLATE_CHARS = 4000;

// Zero-width space: splits a marker or a mention from what follows, without a visible change.
const ZWSP = '\u200b';

const ESCAPE: Readonly<Record<ChatType, (v: string) => string>> = {
  // Slack's own rule for text: &, < and > as entities (so <!channel>, <@U1> and <url|label> stay text);
  // mrkdwn has no escape for its markers, so * _ ~ ` are fenced with zero-width spaces.
  slack: (v) =>
    v
      .replaceAll('&', '&amp;')
      .replaceAll('<', '&lt;')
      .replaceAll('>', '&gt;')
      .replace(/[*_~`]/g, (c) => `${ZWSP}${c}${ZWSP}`)
      .replaceAll('@', `@${ZWSP}`),
  // Discord markdown takes a backslash before any marker; allowed_mentions stops pings besides.
  discord: (v) => v.replace(/[\\*_~`|>#\-[\]()<:]/g, (c) => `\\${c}`).replaceAll('@', `@${ZWSP}`),
  // Adaptive Card TextBlock markdown (CommonMark subset): a backslash before any marker; {{…}} would be a date function.
  teams: (v) => v.replace(/[\\*_~`>#\-+[\]()!{}]/g, (c) => `\\${c}`).replaceAll('@', `@${ZWSP}`),
};

/** The template's tags, for checks: placeholder names and the tags we refuse. */
function tagsOf(template: string): { names: string[]; raw: string[]; partials: string[] } {
  const out = { names: [] as string[], raw: [] as string[], partials: [] as string[] };
  const walk = (tokens: unknown[][]) => {
    for (const tok of tokens) {
      const [kind, value] = tok as [string, string];
      if (kind === 'name' || kind === '#' || kind === '^') out.names.push(value);
      if (kind === '&') out.raw.push(value);
      if (kind === '>') out.partials.push(value);
      if (Array.isArray(tok[4])) walk(tok[4] as unknown[][]);
    }
  };
  walk(Mustache.parse(template));
  return out;
}

/** Refuses a template that does not parse, or that would put a value in unescaped. `field` names it in the error. */
export function checkTemplate(template: string, field: string): void {
  let tags: ReturnType<typeof tagsOf>;
  try {
    tags = tagsOf(template);
  } catch (err) {
    throw new ValidationError(`${field}: the template does not parse: ${(err as Error).message}`, field);
  }
  if (tags.raw.length > 0)
    throw new ValidationError(
      `${field}: {{{${tags.raw[0]}}}} (or {{&${tags.raw[0]}}}) would insert a value unescaped, so a student's name could ping a channel or make a link; use {{${tags.raw[0]}}}`,
      field,
    );
  if (tags.partials.length > 0)
    throw new ValidationError(`${field}: {{>${tags.partials[0]}}} includes a partial; templates have none`, field);
}

/** What a template is rendered over: the event's data, with the envelope's id, type and time as `event`. */
export function templateView(envelope: string): Record<string, unknown> {
  const e = JSON.parse(envelope) as { id?: unknown; event?: unknown; created_at?: unknown; data?: unknown };
  const data =
    e.data && typeof e.data === 'object' && !Array.isArray(e.data) ? (e.data as Record<string, unknown>) : {};
  return { ...data, event: { id: e.id, type: e.event, created_at: e.created_at } };
}

/**
 * Placeholders of the template that `view` has no value for, so they
 * render empty. Section tags ({{#x}}, {{^x}}) are conditions, not
 * placeholders, and only the parts the view would show are looked at.
 */
export function missingPlaceholders(template: string, view: Record<string, unknown>): string[] {
  const has = (name: string) => {
    let at: unknown = view;
    for (const part of name.split('.')) {
      if (at === null || typeof at !== 'object' || !(part in at)) return false;
      at = (at as Record<string, unknown>)[part];
    }
    return true;
  };
  const missing = new Set<string>();
  // Only what this view would render: {{#x}} parts when x is there, {{^x}} parts when it is not.
  const walk = (tokens: unknown[][]) => {
    for (const tok of tokens) {
      const [kind, name] = tok as [string, string];
      if (kind === 'name' && name !== '.' && !has(name)) missing.add(name);
      const shown = kind === '#' ? has(name) : kind === '^' ? !has(name) : false;
      if (shown && Array.isArray(tok[4])) walk(tok[4] as unknown[][]);
    }
  };
  walk(Mustache.parse(template));
  return [...missing];
}

/** The template in force for an event type: the endpoint's own, else the default, else the fallback. */
export function templateFor(templates: Record<string, string> | null, eventType: string): string {
  return templates?.[eventType] ?? DEFAULT_TEMPLATES[eventType] ?? FALLBACK_TEMPLATE;
}

/** The message text: the template over the view, every value escaped for the provider; blank lines trimmed. */
export function renderText(type: ChatType, template: string, view: Record<string, unknown>): string {
  checkTemplate(template, 'template');
  const text = Mustache.render(template, view, {}, { escape: (v: unknown) => ESCAPE[type](String(v)) }).trim();
  return text === '' ? '(empty message: the template rendered nothing for this event)' : text;
}

/** Cuts to at most `max` UTF-16 units, on a code point boundary, ending in "…". */
export function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  let out = '';
  for (const ch of text) {
    if (out.length + ch.length > max - 1) break;
    out += ch;
  }
  return `${out}…`;
}

/** Slack: a section block holds at most 3,000 characters; `text` is the notification fallback. */
const SLACK_SECTION_CHARS = 3000;
/** Discord: `content` holds at most 2,000 characters. */
const DISCORD_CONTENT_CHARS = 2000;
/** Teams: a message (card included) must stay under about 28 KB; keep the card well inside. */
const TEAMS_CARD_BYTES = 24_000;

/** The JSON body a provider takes for this text. */
export function messageBody(type: ChatType, text: string): string {
  if (type === 'slack') {
    const t = cut(text, SLACK_SECTION_CHARS);
    return JSON.stringify({ text: t, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: t } }] });
  }
  if (type === 'discord')
    return JSON.stringify({ content: cut(text, DISCORD_CONTENT_CHARS), allowed_mentions: { parse: [] } });
  let t = text;
  for (;;) {
    const body = JSON.stringify(teamsCard(t));
    const bytes = Buffer.byteLength(body);
    if (bytes <= TEAMS_CARD_BYTES) return body;
    t = cut(t, Math.floor((t.length * TEAMS_CARD_BYTES) / bytes) - 16);
  }
}

function teamsCard(text: string) {
  return {
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          version: '1.4',
          body: [{ type: 'TextBlock', text, wrap: true }],
        },
      },
    ],
  };
}

/** The body to send for an envelope: the event's template rendered and wrapped as the provider wants it. */
export function chatBody(type: ChatType, templates: Record<string, string> | null, envelope: string): string {
  const view = templateView(envelope);
  const envelopeType = (view.event as { type?: unknown }).type;
  const eventType = typeof envelopeType === 'string' ? envelopeType : '';
  // "Send test message" sends webhook.test carrying the event type and data to show: that type's template, marked as a test.
  const shown = view.preview as { type?: unknown; data?: unknown } | undefined;
  if (
    eventType === 'webhook.test' &&
    shown &&
    typeof shown.type === 'string' &&
    shown.data &&
    typeof shown.data === 'object'
  ) {
    const previewView = {
      ...(shown.data as Record<string, unknown>),
      event: { ...(view.event as object), type: shown.type },
    };
    return messageBody(type, `${TEST_PREFIX}${renderText(type, templateFor(templates, shown.type), previewView)}`);
  }
  return messageBody(type, renderText(type, templateFor(templates, eventType), view));
}

/** Starts a test message, so nobody takes it for a real enrolment. */
export const TEST_PREFIX = '[test] ';

/** What a provider's answer means beyond plain HTTP: our message refused, the webhook gone, or when to retry. */
export type ChatVerdict =
  { kind: 'rejected'; reason: string } | { kind: 'gone'; reason: string } | { kind: 'retry_after'; ms: number } | null;

export interface ProviderAnswer {
  statusCode: number | null;
  headers: Record<string, string> | null;
  body: string | null;
}

/** The provider's words: Slack's plain-text code, or Discord's / Microsoft's JSON message. */
function providerWords(body: string | null): string {
  const b = (body ?? '').trim();
  try {
    const j = JSON.parse(b) as { message?: unknown; code?: unknown; error?: { code?: unknown; message?: unknown } };
    if (j.error && typeof j.error === 'object')
      return [j.error.code, j.error.message].filter((x) => typeof x === 'string').join(': ');
    if (typeof j.message === 'string') return typeof j.code === 'number' ? `${j.message} (code ${j.code})` : j.message;
  } catch {
    // Slack answers in plain text.
  }
  return b.split('\n')[0]!.slice(0, 200);
}

/** Seconds, possibly fractional, as ms; null when unreadable. */
function secondsToMs(v: unknown): number | null {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : NaN;
  return Number.isFinite(n) && n >= 0 ? Math.ceil(n * 1000) : null;
}

/**
 * Reads a provider's non-2xx answer. Slack (incoming webhooks): 400
 * invalid_payload, no_text… is our message; 403 action_prohibited, 404
 * channel_not_found / no_service, 410 channel_is_archived mean the webhook
 * is gone. Discord: 400 is our message; 401/403 stop at once (so we never
 * approach its ban on repeated invalid requests); 404 Unknown Webhook is
 * gone; 429 gives retry_after in seconds (fractional) in the body and
 * Retry-After in the header. Teams Workflows: 400 is our card; 401/403/404
 * mean the flow's URL no longer takes posts (deleted, turned off, or its
 * signature revoked). 429 and 5xx are left to the retry schedule, which
 * honours Retry-After.
 */
export function readAnswer(type: ChatType, a: ProviderAnswer): ChatVerdict {
  const code = a.statusCode;
  if (code === null || (code >= 200 && code < 300)) return null;
  const name = PROVIDER_NAMES[type];
  const words = providerWords(a.body);
  const said = `${name} answered ${code}${words ? ` ${words}` : ''}`;
  if (code === 400) return { kind: 'rejected', reason: `${said}: it refused the message the template rendered` };
  const gone = type === 'slack' ? [403, 404, 410] : type === 'discord' ? [401, 403, 404] : [401, 403, 404, 410];
  if (gone.includes(code)) return { kind: 'gone', reason: `${said}: the webhook no longer takes messages` };
  if (code === 429 && type === 'discord') {
    let ms = secondsToMs(a.headers?.['retry-after']);
    try {
      ms = secondsToMs((JSON.parse(a.body ?? '') as { retry_after?: unknown }).retry_after) ?? ms;
    } catch {
      // The header alone, then.
    }
    if (ms !== null) return { kind: 'retry_after', ms };
  }
  return null;
}
