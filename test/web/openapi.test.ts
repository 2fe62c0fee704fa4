/**
 * GET /api/openapi.json: served without a token, a valid OpenAPI 3.1
 * document (checked by an OpenAPI validator library), and true to the
 * router: every /api route is in it, and nothing else is.
 */
import { expect } from 'chai';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { Router } from 'express';
import { useTestDb } from '../support/db.js';
import { useSidecar } from '../support/sidecar.js';
import { routesOf } from '../support/routes.js';
import { apiRouter } from '../../src/web/api.js';
import type { Service } from '../../src/manage/service.js';

/** Every method + path the API router registers, in OpenAPI spelling (/endpoints/{id}). */
const openApiRoutes = (router: Router): string[] =>
  routesOf(router)
    .map(({ method, path }) => `${method} ${path.replace(/:([A-Za-z_]+)/g, '{$1}')}`)
    .sort();

describe('the OpenAPI document', function () {
  this.timeout(30_000);
  const db = useTestDb('openapi');
  const fx = useSidecar(db);

  it('is served without a token and is valid OpenAPI 3.1', async () => {
    const res = await fx.api('GET', '/api/openapi.json', undefined, null);
    expect(res.status).to.equal(200);
    expect(res.body.openapi).to.equal('3.1.0');
    const result = await new Validator().validate(res.body);
    expect(result.valid, JSON.stringify(result.errors, null, 2)).to.equal(true);
  });

  it('lists every route the API router has, and no other', async () => {
    const doc = (await fx.api('GET', '/api/openapi.json', undefined, null)).body as {
      paths: Record<string, Record<string, unknown>>;
    };
    const documented = Object.entries(doc.paths)
      .flatMap(([path, ops]) =>
        Object.keys(ops)
          .filter((k) => ['get', 'post', 'patch', 'put', 'delete'].includes(k))
          .map((m) => `${m.toUpperCase()} ${path}`),
      )
      .filter((r) => r !== 'GET /openapi.json')
      .sort();
    const routes = openApiRoutes(apiRouter({} as Service));
    expect(routes.length).to.be.at.least(16);
    expect(documented).to.deep.equal(routes);
  });

  it('takes its request schemas from the joi schemas the routes validate with', async () => {
    const doc = (await fx.api('GET', '/api/openapi.json', undefined, null)).body;
    const create = doc.paths['/endpoints'].post.requestBody.content['application/json'].schema;
    expect(create.required).to.include.members(['events']);
    // url is required except for a polling endpoint, which has none.
    expect(create.if).to.deep.equal({ properties: { type: { const: 'polling' } }, required: ['type'] });
    expect(create.else).to.deep.equal({ required: ['url'] });
    expect(create.properties.url).to.include({ type: 'string', format: 'uri' });
    expect(create.properties).to.include.keys(
      'filter',
      'headers',
      'auth',
      'rate_limit_per_second',
      'signing',
      'ordered',
      'tls',
    );
    const query = (doc.paths['/deliveries'].get.parameters as { name: string }[]).map((p) => p.name);
    expect(query).to.include.members(['endpoint_id', 'status', 'event_type', 'limit', 'before']);
  });
});
