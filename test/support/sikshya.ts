/** Sikshya 1.0.6's tables (test/fixtures/sikshya-1.0.6.sql) in a test database. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Pool } from 'mysql2/promise';
import { sqlStatements } from '../../src/db/migrate.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/sikshya-1.0.6.sql', import.meta.url));

/** Creates Sikshya's tables (and minimal users and posts tables where WordPress has not made them). */
export async function createSikshyaTables(pool: Pool, prefix: string): Promise<void> {
  for (const statement of sqlStatements(readFileSync(FIXTURE, 'utf8').replaceAll('{prefix}', prefix)))
    await pool.query(statement);
}
