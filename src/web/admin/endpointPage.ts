/** One endpoint's page: its form, secret, health, test and replay, recent deliveries. */
import { TRANSFORMATION_BACKOFF_AFTER } from '../../db/transformBackoff.js';
import type { Response } from 'express';
import type { Service } from '../../manage/service.js';
import { describeFilter } from '../../delivery/filters.js';
import { describeCertificate } from '../../delivery/tlsMaterial.js';
import { describeSubscription } from '../../delivery/subscriptions.js';
import { CATALOG, EVENT_DESCRIPTIONS } from '../../catalog.js';
import { attemptsChart } from '../charts.js';
import { maskSecret } from '../apiPresent.js';
import { endpointLabel, toField } from './pageHelpers.js';
import { PROVIDER_NAMES } from '../../delivery/chat.js';
import { isChatType } from '../../types.js';
import { catalogChoices, savedValues, type EndpointValues } from './endpointForm.js';

/** The endpoint page: its form, secret, test and replay, recent deliveries. */
export async function renderEndpoint(
  service: Service,
  res: Response,
  id: number,
  status: number,
  values?: EndpointValues,
  errors: Record<string, string> = {},
  needsConfirm = false,
  newSecret: string | null = null,
) {
  const endpoint = await service.getEndpoint(id);
  const [recent, paused, settings, week, health] = await Promise.all([
    service.listDeliveries({ endpointId: id, limit: 20 }),
    service.listDeliveries({ endpointId: id, status: 'paused', limit: 1 }),
    service.getSettings(),
    service.endpointStats(id, 7),
    service.endpointHealth(id),
  ]);
  // The receiver's own words, first line: for the health's last error and each recent delivery.
  const bodies = await service.lastResponseLines([
    ...new Set([...recent.map((d) => d.id), ...(health.lastProblem ? [health.lastProblem.deliveryId] : [])]),
  ]);
  const attempts = week.buckets.reduce((a, b) => a + b.attempts, 0);
  const successes = week.buckets.reduce((a, b) => a + b.successes, 0);
  res.status(status).render('endpoint-form', {
    ...(await formLocals(service)),
    title: endpointLabel(endpoint),
    endpoint,
    maskedSecret: maskSecret(endpoint.secret),
    messages: isChatType(endpoint.type) ? await service.messagePreviews(id) : null,
    recent,
    bodies,
    hasPaused: paused.length > 0,
    stats: {
      chart: attemptsChart(week.buckets, week.unit),
      attempts,
      successes,
      rate: attempts ? successes / attempts : null,
    },
    health,
    transformationBackoffAfter: TRANSFORMATION_BACKOFF_AFTER,
    polling: endpoint.type === 'polling' ? await service.pollStatus(id) : null,
    values: values ?? savedValues(endpoint),
    errors,
    needsConfirm,
    newSecret,
    graceDefault: settings.rotationGraceHours,
    httpsOnly: settings.httpsOnly,
    defaultSince: toField(new Date(Date.now() - 24 * 3600_000)),
  });
}

/** What the add and edit forms both show. */
const FIELDS_OF: Readonly<Record<string, string[]>> = Object.fromEntries(
  CATALOG.map((c) => [c.type, Object.keys((c.schema as { properties?: object }).properties ?? {})]),
);

/** The "Sends" choices, in the form's words. */
const ENDPOINT_TYPE_CHOICES: [string, string][] = [
  ['webhook', 'Signed webhook (the JSON envelope)'],
  ['slack', `${PROVIDER_NAMES.slack} message`],
  ['discord', `${PROVIDER_NAMES.discord} message`],
  ['teams', `${PROVIDER_NAMES.teams} message (Workflows)`],
  ['polling', 'Nothing: the receiver polls for its events (behind a firewall)'],
];

export async function formLocals(service: Service) {
  return {
    catalog: catalogChoices(),
    describe: describeSubscription,
    describeFilter,
    describeCertificate,
    descriptions: EVENT_DESCRIPTIONS,
    orderingAvailable: await service.orderingAvailable(),
    endpointTypes: ENDPOINT_TYPE_CHOICES,
    // Each catalog type's data fields, from its schema: beside the event choices, filter and templates.
    fieldsOf: FIELDS_OF,
  };
}
