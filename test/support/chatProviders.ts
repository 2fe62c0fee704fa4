/**
 * Receivers that answer as Slack's incoming webhooks, Discord's webhooks
 * and a Teams Workflows webhook document (status codes and bodies), with a
 * switch for each failure the tests need. Built on the plain receiver, so
 * every request is recorded.
 */
import type { Received, Reply } from './receiver.js';

export type SlackMode = 'ok' | 'channel_is_archived' | 'channel_not_found' | 'action_prohibited' | 'rate_limited';

/**
 * Slack: 200 "ok"; 400 invalid_payload (not JSON) or no_text (no text and
 * no blocks); 403 action_prohibited; 404 channel_not_found; 410
 * channel_is_archived; 429 with Retry-After. Bodies are plain text.
 */
export function slackAnswer(mode: () => SlackMode): (r: Received) => Reply {
  const text = (status: number, body: string, headers: Record<string, string> = {}): Reply => ({
    status,
    body,
    headers: { 'content-type': 'text/html', ...headers },
  });
  return (r) => {
    let body: { text?: unknown; blocks?: unknown };
    try {
      body = JSON.parse(r.raw.toString('utf8')) as typeof body;
    } catch {
      return text(400, 'invalid_payload');
    }
    const m = mode();
    if (m === 'channel_is_archived') return text(410, m);
    if (m === 'channel_not_found') return text(404, m);
    if (m === 'action_prohibited') return text(403, m);
    if (m === 'rate_limited') return text(429, 'rate_limited', { 'retry-after': '1' });
    if (typeof body.text !== 'string' || body.text === '') return text(400, body.blocks ? 'invalid_blocks' : 'no_text');
    return text(200, 'ok');
  };
}

export type DiscordMode = 'ok' | 'unknown_webhook' | 'unauthorized' | 'rate_limited';

/**
 * Discord (execute webhook, without ?wait): 204 and no body; 400 with its
 * JSON error (50006 empty message; 50035 Invalid Form Body for content past
 * 2,000 characters); 401 Unauthorized; 404 Unknown Webhook (10015); 429
 * with retry_after in seconds (fractional) and a whole-second Retry-After.
 */
export function discordAnswer(mode: () => DiscordMode): (r: Received) => Reply {
  const json = (status: number, body: unknown, headers: Record<string, string> = {}): Reply => ({
    status,
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...headers },
  });
  return (r) => {
    const m = mode();
    if (m === 'unknown_webhook') return json(404, { message: 'Unknown Webhook', code: 10015 });
    if (m === 'unauthorized') return json(401, { message: '401: Unauthorized', code: 0 });
    if (m === 'rate_limited')
      return json(
        429,
        { message: 'You are being rate limited.', retry_after: 2.5, global: false },
        { 'retry-after': '3', 'x-ratelimit-scope': 'user' },
      );
    const body = r.json as unknown as { content?: unknown };
    if (typeof body.content !== 'string' || body.content === '')
      return json(400, { message: 'Cannot send an empty message', code: 50006 });
    if ([...body.content].length > 2000)
      return json(400, {
        message: 'Invalid Form Body',
        code: 50035,
        errors: {
          content: { _errors: [{ code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 2000 or fewer in length.' }] },
        },
      });
    return { status: 204, body: '', headers: {} };
  };
}

export type TeamsMode = 'ok' | 'flow_gone';

/** Teams Workflows ("When a Teams webhook request is received"): 202 Accepted; 400 for a body that is not an Adaptive Card message; 404 once the flow is gone. */
export function teamsAnswer(mode: () => TeamsMode): (r: Received) => Reply {
  return (r): Reply => {
    if (mode() === 'flow_gone')
      return {
        status: 404,
        body: JSON.stringify({ error: { code: 'WorkflowNotFound', message: 'The workflow was not found.' } }),
        headers: { 'content-type': 'application/json' },
      };
    const body = r.json as unknown as { type?: unknown; attachments?: { contentType?: unknown }[] };
    if (body.type !== 'message' || body.attachments?.[0]?.contentType !== 'application/vnd.microsoft.card.adaptive')
      return {
        status: 400,
        body: JSON.stringify({ error: { code: 'InvalidRequestContent', message: 'not an Adaptive Card message' } }),
        headers: { 'content-type': 'application/json' },
      };
    return { status: 202, body: '', headers: {} };
  };
}
