/**
 * "Does it slow my site?": a fixed mix of typical WordPress queries, run by
 * its own process against the same server as the sidecar, one operation
 * every 10 ms (a busy site's page views, not a load test). The operations,
 * in turn: a post by ID; the autoloaded options (every WordPress page starts
 * with this); a usermeta write in a transaction; an LMS enrollment insert
 * with its outbox row in one transaction (into the sidecar's outbox, with a
 * type no endpoint subscribes to, as a real site's other events).
 *
 * argv: site database URL, the sidecar's outbox table (`db`.`wp_webhook_outbox`).
 * IPC: {cmd:'start'} begins collecting, {cmd:'stop'} answers {count, p50, p99}
 * in ms, {cmd:'exit'}. It sends {ready:true} once its tables are filled.
 */
import mysql from 'mysql2/promise';
import { withTransaction } from '../../src/db/transaction.js';

const [url, outbox] = process.argv.slice(2) as [string, string];
const pool = mysql.createPool({ uri: url, connectionLimit: 4 });
const POSTS = 2000;
const USERS = 500;

async function fill() {
  await pool.query(`CREATE TABLE wp_posts (
    ID BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, post_author BIGINT UNSIGNED NOT NULL DEFAULT 0,
    post_date DATETIME NOT NULL, post_content LONGTEXT NOT NULL, post_title TEXT NOT NULL,
    post_status VARCHAR(20) NOT NULL DEFAULT 'publish', post_name VARCHAR(200) NOT NULL DEFAULT '',
    post_type VARCHAR(20) NOT NULL DEFAULT 'post', KEY type_status_date (post_type, post_status, post_date, ID)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`);
  await pool.query(`CREATE TABLE wp_options (
    option_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, option_name VARCHAR(191) NOT NULL,
    option_value LONGTEXT NOT NULL, autoload VARCHAR(20) NOT NULL DEFAULT 'yes',
    UNIQUE KEY option_name (option_name), KEY autoload (autoload)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`);
  await pool.query(`CREATE TABLE wp_usermeta (
    umeta_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, user_id BIGINT UNSIGNED NOT NULL DEFAULT 0,
    meta_key VARCHAR(255) NULL, meta_value LONGTEXT NULL, KEY user_id (user_id), KEY meta_key (meta_key(191))
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`);
  await pool.query(`CREATE TABLE wp_lms_enrollments (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, user_id BIGINT UNSIGNED NOT NULL,
    course_id BIGINT UNSIGNED NOT NULL, status VARCHAR(20) NOT NULL, enrolled_at DATETIME NOT NULL,
    KEY user_course (user_id, course_id)
  ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`);
  const text = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(40);
  for (let i = 0; i < POSTS; i += 500)
    await pool.query('INSERT INTO wp_posts (post_date, post_content, post_title, post_name) VALUES ?', [
      Array.from({ length: 500 }, (_, j) => [new Date(), text, `Lesson ${i + j}`, `lesson-${i + j}`]),
    ]);
  await pool.query('INSERT INTO wp_options (option_name, option_value, autoload) VALUES ?', [
    Array.from({ length: 400 }, (_, i) => [
      `option_${i}`,
      i % 10 === 0 ? 'x'.repeat(2000) : `value_${i}`,
      i < 300 ? 'yes' : 'no',
    ]),
  ]);
  await pool.query('INSERT INTO wp_usermeta (user_id, meta_key, meta_value) VALUES ?', [
    Array.from({ length: USERS * 4 }, (_, i) => [i % USERS, `meta_${Math.floor(i / USERS)}`, 'v']),
  ]);
}

const rand = (n: number) => Math.floor(Math.random() * n);
const operations: (() => Promise<unknown>)[] = [
  () => pool.query('SELECT * FROM wp_posts WHERE ID = ? LIMIT 1', [1 + rand(POSTS)]),
  () => pool.query("SELECT option_name, option_value FROM wp_options WHERE autoload IN ('yes', 'on')"),
  () =>
    withTransaction(pool, (c) =>
      c.query("UPDATE wp_usermeta SET meta_value = ? WHERE user_id = ? AND meta_key = 'meta_1'", [
        String(Date.now()),
        rand(USERS),
      ]),
    ),
  () =>
    withTransaction(pool, async (c) => {
      const user = rand(USERS);
      await c.query(
        "INSERT INTO wp_lms_enrollments (user_id, course_id, status, enrolled_at) VALUES (?, 7, 'active', NOW())",
        [user],
      );
      await c.query(`INSERT INTO ${outbox} (event_type, payload) VALUES ('site.enrollment', ?)`, [
        JSON.stringify({ student_id: `student_${user}`, course_id: 'course_7' }),
      ]);
    }),
];

let collecting = false;
let latencies: number[] = [];
let running = true;

async function loop() {
  let i = 0;
  while (running) {
    const t0 = performance.now();
    await operations[i++ % operations.length]!();
    const ms = performance.now() - t0;
    if (collecting) latencies.push(ms);
    await new Promise((r) => setTimeout(r, Math.max(0, 10 - ms)));
  }
}

process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'start') {
    latencies = [];
    collecting = true;
  } else if (m.cmd === 'stop') {
    collecting = false;
    const l = [...latencies].sort((a, b) => a - b);
    const q = (p: number) => l[Math.min(l.length - 1, Math.floor(p * l.length))] ?? NaN;
    process.send!({ count: l.length, p50: q(0.5), p99: q(0.99) });
  } else if (m.cmd === 'exit') {
    running = false;
    void pool.end().then(() => process.exit(0));
  }
});

await fill();
const done = loop();
process.send!({ ready: true });
await done;
