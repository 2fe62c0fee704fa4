/**
 * A chat endpoint's message templates: what each subscribed event type's
 * message looks like with the catalog's example (and the newest real event
 * of that type), which placeholders the example lacks, and saving only the
 * templates that differ from the defaults.
 */
import * as eventsSql from '../db/events.js';
import { CATALOG, SAMPLE_PAYLOADS } from '../catalog.js';
import { checkTemplate, missingPlaceholders, renderText, templateFor } from '../delivery/chat.js';
import { DEFAULT_TEMPLATES } from '../delivery/chatTemplates.js';
import { subscribed } from '../delivery/subscriptions.js';
import * as endpointsSql from '../db/endpoints.js';
import { ValidationError } from '../errors.js';
import { isChatType, type ChatType, type Endpoint } from '../types.js';
import type { ServiceContext } from './context.js';

export interface MessagePreview {
  eventType: string;
  template: string;
  isDefault: boolean;
  /** The message as sent (escaped for the provider) for the example data, and for the newest real event when one exists. */
  example: string;
  latest: string | null;
  /** Placeholders the example data does not have (they render empty). */
  missing: string[];
}

const exampleView = (eventType: string, data: Record<string, unknown> = SAMPLE_PAYLOADS[eventType] ?? {}) => ({
  ...data,
  event: { id: 'evt_example', type: eventType, created_at: '2025-03-20T10:30:00.000Z' },
});

function preview(type: ChatType, eventType: string, template: string, latest: Record<string, unknown> | null) {
  const view = exampleView(eventType);
  return {
    example: renderText(type, template, view),
    latest: latest ? renderText(type, template, exampleView(eventType, latest)) : null,
    missing: missingPlaceholders(template, view),
  };
}

function mustBeChat(ep: Endpoint): ChatType {
  if (!isChatType(ep.type))
    throw new ValidationError(
      `endpoint ${ep.id} sends signed webhooks; message templates are for Slack, Discord and Teams endpoints`,
      'type',
    );
  return ep.type;
}

export function chatOps(ctx: ServiceContext) {
  const { pool, t, box } = ctx;
  return {
    /** One preview per catalog event type the endpoint subscribes to. */
    async messagePreviews(id: number): Promise<MessagePreview[]> {
      const ep = await ctx.mustGetEndpoint(id);
      const type = mustBeChat(ep);
      const types = CATALOG.map((c) => c.type).filter((x) => subscribed(ep.events, x));
      return Promise.all(
        types.map(async (eventType) => {
          const template = templateFor(ep.templates, eventType);
          const latest = await eventsSql.latestEventData(pool, t, eventType);
          return {
            eventType,
            template,
            isDefault: ep.templates?.[eventType] === undefined,
            ...preview(type, eventType, template, latest),
          };
        }),
      );
    },

    /** A template as typed, rendered for the live preview; a template that cannot be used says why. */
    async previewTemplate(id: number, eventType: string, template: string) {
      const type = mustBeChat(await ctx.mustGetEndpoint(id));
      checkTemplate(template, `templates.${eventType}`);
      return preview(type, eventType, template, await eventsSql.latestEventData(pool, t, eventType));
    },

    /**
     * Saves the templates given by event type, keeping only those that differ
     * from the defaults (the others follow the defaults as they improve); an
     * empty one goes back to the default. Types not given keep what they had.
     */
    async saveTemplates(id: number, given: Record<string, string>): Promise<void> {
      const ep = await ctx.mustGetEndpoint(id);
      mustBeChat(ep);
      for (const [eventType, text] of Object.entries(given)) checkTemplate(text, `templates.${eventType}`);
      const merged = { ...ep.templates, ...given };
      const own = Object.entries(merged)
        .map(([eventType, text]) => [eventType, text.replace(/\r\n/g, '\n').trim()] as const)
        .filter(([eventType, text]) => text !== '' && text !== DEFAULT_TEMPLATES[eventType]);
      await endpointsSql.updateEndpoint(pool, t, box, id, { templates: own.length ? Object.fromEntries(own) : null });
    },
  };
}
