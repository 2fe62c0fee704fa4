/** Transactions on one pooled connection. */
import type { Pool, PoolConnection } from 'mysql2/promise';

/** Runs fn in a transaction on one connection; rolls back on any error. */
export async function withTransaction<T>(pool: Pool, fn: (conn: PoolConnection) => Promise<T>): Promise<T> {
  const conn = await pool.getConnection();
  try {
    await conn.beginTransaction();
    const result = await fn(conn);
    await conn.commit();
    return result;
  } catch (err) {
    try {
      await conn.rollback();
    } catch {
      // The connection is broken; destroy below rather than reuse it.
      conn.destroy();
      throw err;
    }
    throw err;
  } finally {
    conn.release();
  }
}
