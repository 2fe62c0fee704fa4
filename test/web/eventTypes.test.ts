/**
 * The typed catalog on the wire: schemas in GET /api/event-types, every
 * event in OpenAPI's webhooks section (types generated from it with
 * openapi-typescript compile a receiver, and catch a wrong one), and
 * drift: an event whose data does not fit is delivered, noted and counted.
 */
import { expect } from 'chai';
import { runChild } from '../support/child.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RowDataPacket } from 'mysql2/promise';
import { insertOutbox, useTestDb } from '../support/db.js';
import { useSidecar } from '../support/sidecar.js';
import { waitFor } from '../support/wait.js';
import { CATALOG } from '../../src/catalog.js';

const BIN = fileURLToPath(new URL('../../../node_modules/.bin/', import.meta.url));

describe('typed event catalog', function () {
  this.timeout(120_000);
  const db = useTestDb('eventtypes');
  const fx = useSidecar(db);
  const { api } = fx;
  afterEach(() => fx.reset());

  it('lists each type with its JSON Schema', async () => {
    const { data } = (await api('GET', '/api/event-types')).body as {
      data: { type: string; schema: { required: string[] } }[];
    };
    expect(data.map((d) => d.type)).to.deep.equal(CATALOG.map((c) => c.type));
    expect(data.find((d) => d.type === 'quiz.submitted')!.schema.required).to.deep.equal([
      'quiz_id',
      'course_id',
      'student_id',
      'score',
    ]);
  });

  it('describes every event in OpenAPI webhooks; generated types compile a receiver and catch a wrong one', async () => {
    const doc = (await api('GET', '/api/openapi.json', undefined, null)).body as { webhooks: Record<string, unknown> };
    expect(Object.keys(doc.webhooks)).to.deep.equal(CATALOG.map((c) => c.type));
    const dir = mkdtempSync(path.join(tmpdir(), 'whtest-types-'));
    writeFileSync(path.join(dir, 'openapi.json'), JSON.stringify(doc));
    await runChild(path.join(BIN, 'openapi-typescript'), [
      path.join(dir, 'openapi.json'),
      '-o',
      path.join(dir, 'lms.d.ts'),
    ]);
    const receiver = (body: string) =>
      `import type { webhooks } from './lms';\ntype Enrolled = webhooks['enrollment.created']['post']['requestBody']['content']['application/json'];\nexport function handle(e: Enrolled): string {\n${body}\n}\n`;
    // In a child, asynchronously: 8 s of compiling in this process would stall the sidecar it serves.
    const compile = async (body: string) => {
      writeFileSync(path.join(dir, 'receiver.ts'), receiver(body));
      try {
        await runChild(path.join(BIN, 'tsc'), [
          '--noEmit',
          '--strict',
          '--skipLibCheck',
          path.join(dir, 'receiver.ts'),
        ]);
        return '';
      } catch (err) {
        return String((err as { stdout: string }).stdout);
      }
    };
    expect(
      await compile(
        "  const who: string = e.data.student_id;\n  return e.event === 'enrollment.created' ? who + (e.data.course_title ?? '') : '';",
      ),
    ).to.equal('');
    expect(await compile('  const n: number = e.data.student_id;\n  return String(n);')).to.match(
      /Type 'string' is not assignable to type 'number'/,
    );
  });

  it('delivers an event whose data drifted from its schema, notes why on the outbox row, and counts it', async () => {
    const receiver = await fx.receiver();
    await fx.endpoint(`${receiver.url}/drift`, ['enrollment.*']);
    await insertOutbox(db.get().pool, [{ type: 'enrollment.created', payload: { student_id: 42, course_id: 'c1' } }]);
    await waitFor('delivered anyway', () => receiver.received.length === 1);
    const [[row]] = await db.get().pool.query<RowDataPacket[]>('SELECT fanout_note FROM wp_webhook_outbox');
    expect(row!.fanout_note).to.equal(
      'data does not match the enrollment.created schema: data.student_id must be string; delivered anyway',
    );
    const metrics = await (await fetch(`${fx.sidecar.url}/metrics`)).text();
    expect(metrics).to.match(/webhooks_schema_mismatches_total\{event_type="enrollment.created"\} 1/);
  });
});
