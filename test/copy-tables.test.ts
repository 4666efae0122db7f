// copyRows between SQLite and PostgreSQL on real databases: a seeded SQLite database → PostgreSQL → a new SQLite database is row-for-row equal (every table, identity values and sequences, odd text, 64-bit integers); refusals leave the target empty.
import type { Database } from "bun:sqlite";
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { rmSync } from "node:fs";
import type { Sql } from "postgres";
import { openDatabase } from "../src/db/client";
import { migrate } from "../src/db/migrate";
import { openPostgres } from "../src/db/postgres/client";
import { migratePostgres } from "../src/db/postgres/migrate";
import { COPIED_TABLES, CopyError, copyRows, countRows, DERIVED_TABLES, firstNonEmptyTable, TargetNotEmpty } from "../src/ops/copy-tables";
import { tempDir } from "./helpers";
import { freshDatabase, postgresUrl } from "./services/postgres";

setDefaultTimeout(60_000);
const base = await postgresUrl();
if (!base) process.stderr.write("test/copy-tables.test.ts: skipped (no PostgreSQL server; see the line above)\n");

const dirs: string[] = [];
const pools: Sql[] = [];
const drops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const p of pools) await p.end({ timeout: 5 });
  for (const d of drops) await d().catch(() => {});
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A new SQLite database migrated to this build's schema, in a temp dir. */
function sqliteDb(): Database {
  const dir = tempDir("cc-copy");
  dirs.push(dir);
  const handle = openDatabase(dir);
  migrate(handle.sqlite);
  return handle.sqlite;
}

async function pgDb(): Promise<Sql> {
  const db = await freshDatabase();
  drops.push(db.drop);
  const { sql } = openPostgres({ url: db.url, poolSize: 2, statementTimeoutMs: 0 });
  pools.push(sql);
  await migratePostgres(sql);
  return sql;
}

/** Text that trips naive copies: COPY's escapes and NULL marker, quotes, line ends, tabs, non-ASCII, a lone `\.` line. */
const ODD = [
  "tab\there",
  "line\nbreak",
  "cr\r\nlf",
  "back\\slash",
  "\\N",
  "\\.",
  "quote ' \" `",
  "emoji 🎫 ß 東京",
  " lead and trail ",
  "",
  "x".repeat(70_000),
];
const BIG = 2n ** 62n + 12345n;

/** Every table with rows, the child-before-parent order for folders, an events sequence ahead of its rows. */
function seed(db: Database): void {
  const now = 1_800_000_000_000;
  const run = (q: string, ...p: unknown[]) => db.query(q).run(...(p as never[]));
  db.exec("BEGIN");
  for (let o = 0; o < 3; o++) {
    const org = `org_${o}`;
    run("INSERT INTO orgs (id, name, plan, created_at) VALUES (?, ?, ?, ?)", org, ODD[o]!, "pro", now + o);
    run(
      "INSERT INTO users (id, org_id, email, name, role, created_at) VALUES (?, ?, ?, ?, 'owner', ?)",
      `user_${o}`,
      org,
      `u${o}@x.test`,
      o ? ODD[o + 3]! : null,
      now,
    );
    run(
      "INSERT INTO api_keys (id, org_id, user_id, name, prefix, hash, created_at, last_used_at, expires_at, revoked_at) VALUES (?, ?, ?, 'k', 'cc_ab', ?, ?, ?, NULL, NULL)",
      `key_${o}`,
      org,
      `user_${o}`,
      `hash${o}`,
      now,
      o === 1 ? BIG : null,
    );
    for (let t = 0; t < 30; t++) {
      run(
        "INSERT INTO tickets (id, org_id, subject, description, status, priority, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, 'open', 'high', ?, ?, ?)",
        `tkt_${o}_${String(t).padStart(3, "0")}`,
        org,
        ODD[t % ODD.length]!,
        t % 3 ? ODD[(t + 5) % ODD.length]! : null,
        t % 2 ? `user_${o}` : null,
        now + t,
        now + t,
      );
    }
    run("INSERT INTO ticket_counts (org_id, status, priority, count) VALUES (?, 'open', 'high', 30)", org);
    // The child's id sorts before its parent's: key order is not parent order.
    run(
      "INSERT INTO folders (id, org_id, parent_id, parent_key, name, created_at, updated_at) VALUES (?, ?, NULL, '', 'z-root', ?, ?)",
      `fld_z${o}`,
      org,
      now,
      now,
    );
    run(
      "INSERT INTO folders (id, org_id, parent_id, parent_key, name, created_at, updated_at) VALUES (?, ?, ?, ?, 'a-child', ?, ?)",
      `fld_a${o}`,
      org,
      `fld_z${o}`,
      `fld_z${o}`,
      now,
      now,
    );
    run(
      "INSERT INTO files (id, org_id, folder_id, ticket_id, filename, size_bytes, mime_type, sha256, storage_key, uploaded_by, uploaded_at) VALUES (?, ?, ?, ?, ?, ?, 'application/octet-stream', ?, ?, ?, ?)",
      `file_${o}`,
      org,
      `fld_a${o}`,
      `tkt_${o}_001`,
      ODD[o + 6]!,
      BIG,
      "0".repeat(64),
      `${org}/file_${o}`,
      `user_${o}`,
      now,
    );
    run(
      "INSERT INTO webhooks (id, org_id, url, events, description, secret, active, consecutive_failures, created_at, updated_at) VALUES (?, ?, 'https://example.test/h', '[\"*\"]', ?, 'whsec_x', ?, 0, ?, ?)",
      `wh_${o}`,
      org,
      ODD[o + 1]!,
      o % 2,
      now,
      now,
    );
    run(
      "INSERT INTO webhook_deliveries (id, org_id, webhook_id, event_id, event_type, payload, status, next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, 'ticket.created', ?, 'pending', ?, ?, ?)",
      `dlv_${o}`,
      org,
      `wh_${o}`,
      `evt_${o}`,
      JSON.stringify({ text: ODD[2] }),
      now,
      now,
      now,
    );
    run(
      "INSERT INTO webhook_attempts (delivery_id, attempted_at, status_code, error, duration_ms, response_body) VALUES (?, ?, 500, ?, 12, ?)",
      `dlv_${o}`,
      now,
      ODD[3]!,
      ODD[1]!,
    );
    run(
      "INSERT INTO idempotency_keys (key_id, idempotency_key, fingerprint, response_status, response_headers, response_body, created_at) VALUES (?, ?, 'fp', 201, '{}', ?, ?)",
      `key_${o}`,
      ODD[o]!,
      ODD[4]!,
      now,
    );
  }
  for (let e = 0; e < 2500; e++)
    run("INSERT INTO events (id, org_id, type, data, created_at) VALUES (?, 'org_0', 'ticket.created', ?, ?)", `evt_${e}`, ODD[e % ODD.length]!, now + e);
  // Retention removed the newest events: the sequence is ahead of the rows, and a copy must never hand those numbers out again.
  run("DELETE FROM events WHERE seq > 2490");
  run("DELETE FROM webhook_attempts WHERE id = 3");
  db.exec("COMMIT");
}

/** Every row of every table (integers as bigint), in key order, plus the sequences. */
function dump(db: Database): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const t of COPIED_TABLES)
    out[t.name] = db
      .query(`SELECT ${t.columns.join(", ")} FROM ${t.name} ORDER BY ${t.key.join(", ")}`)
      .safeIntegers(true)
      .all();
  out.sqlite_sequence = db.query("SELECT name, seq FROM sqlite_sequence ORDER BY name").safeIntegers(true).all();
  return out;
}

describe.skipIf(!base)("copyRows between SQLite and PostgreSQL", () => {
  test("the tables copied are exactly the schema's on both engines", async () => {
    const lite = sqliteDb();
    const names = (
      lite.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '__drizzle_migrations'").all() as {
        name: string;
      }[]
    )
      .map((r) => r.name)
      .sort();
    // The search index is derived (its triggers rebuild it in the target): every other table is copied.
    expect(names.filter((n) => !DERIVED_TABLES.sqlite.includes(n))).toEqual(COPIED_TABLES.map((t) => t.name).sort());
    for (const t of DERIVED_TABLES.sqlite) expect(names).toContain(t);
    const pg = await pgDb();
    const pgNames = (await pg`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name`).map((r) =>
      String(r.table_name),
    );
    // PostgreSQL has the same tables plus its own: settings (the signing key, copied), the migration record and
    // coordination state between instances (not copied: it describes running processes, not the data).
    for (const t of [...COPIED_TABLES.map((t) => t.name), "settings"]) expect({ t, present: pgNames.includes(t) }).toEqual({ t, present: true });
    // Every SQLite column exists on PostgreSQL (PostgreSQL may have more: coordination state that is not copied).
    for (const t of COPIED_TABLES) {
      const cols = (await pg`SELECT column_name FROM information_schema.columns WHERE table_name = ${t.name}`).map((r) => String(r.column_name));
      for (const c of t.columns) expect({ table: t.name, c, present: cols.includes(c) }).toEqual({ table: t.name, c, present: true });
    }
  });

  test("SQLite → PostgreSQL → SQLite is row-for-row equal; sequences continue past the source's; the signing key goes along", async () => {
    const source = sqliteDb();
    seed(source);
    const pg = await pgDb();
    const key = "ab".repeat(32);
    const seen: string[] = [];
    const into = await pg.begin((tx) =>
      copyRows({ kind: "sqlite", sqlite: source }, { kind: "postgres", sql: tx }, { downloadKey: key, batchRows: 97, onTable: (t) => void seen.push(t) }),
    );
    expect(seen).toEqual(COPIED_TABLES.map((t) => t.name));
    expect(into.tables).toEqual(await countRows({ kind: "sqlite", sqlite: source }));
    expect(await countRows({ kind: "postgres", sql: pg })).toEqual(into.tables);
    expect(into.tables.events).toBe(2490);

    const back = sqliteDb();
    back.exec("BEGIN");
    const out = await pg.begin("ISOLATION LEVEL REPEATABLE READ READ ONLY", (tx) =>
      copyRows({ kind: "postgres", sql: tx }, { kind: "sqlite", sqlite: back }, { batchRows: 64 }),
    );
    back.exec("COMMIT");
    expect(out.downloadKey).toBe(key);
    expect(out.tables).toEqual(into.tables);
    expect(out.rows).toBe(into.rows);
    expect(dump(back)).toEqual(dump(source));
    expect(back.query("PRAGMA foreign_key_check").all()).toEqual([]);

    // PostgreSQL hands out the next numbers after the source's last (2500 events were numbered, 2490 kept).
    const [e] = await pg`INSERT INTO events (id, org_id, type, data, created_at) VALUES ('evt_new', 'org_0', 'ticket.created', '{}', 1) RETURNING seq`;
    expect(e!.seq).toBe(2501);
    const [a] = await pg`INSERT INTO webhook_attempts (delivery_id, attempted_at, duration_ms) VALUES ('dlv_0', 1, 1) RETURNING id`;
    expect(a!.id).toBe(4);
    // …and so does SQLite after the copy back.
    back.query("INSERT INTO events (id, org_id, type, data, created_at) VALUES ('evt_new', 'org_0', 'ticket.created', '{}', 1)").run();
    expect((back.query("SELECT MAX(seq) AS m FROM events").get() as { m: number }).m).toBe(2501);
  });

  test("the search index is not copied but rebuilt by the target's triggers: every ticket and unredacted comment is indexed at each end", async () => {
    const source = sqliteDb();
    seed(source);
    const pg = await pgDb();
    await pg.begin((tx) => copyRows({ kind: "sqlite", sqlite: source }, { kind: "postgres", sql: tx }));
    const n = (db: Database, sql: string) => (db.query(sql).get() as { n: number }).n;
    const tickets = n(source, "SELECT COUNT(*) AS n FROM tickets");
    const comments = n(source, "SELECT COUNT(*) AS n FROM comments WHERE redacted_at IS NULL");
    expect(tickets).toBeGreaterThan(0);
    expect(n(source, "SELECT COUNT(*) AS n FROM ticket_search_tickets")).toBe(tickets);
    const [pgCount] = await pg`SELECT COUNT(*)::bigint AS n FROM ticket_search`;
    expect(Number(pgCount!.n)).toBe(tickets + comments);
    const back = sqliteDb();
    back.exec("BEGIN");
    await pg.begin("ISOLATION LEVEL REPEATABLE READ READ ONLY", (tx) => copyRows({ kind: "postgres", sql: tx }, { kind: "sqlite", sqlite: back }));
    back.exec("COMMIT");
    expect(n(back, "SELECT COUNT(*) AS n FROM ticket_search_tickets")).toBe(tickets);
    expect(n(back, "SELECT COUNT(*) AS n FROM ticket_search_comments")).toBe(comments);
    expect(n(back, "SELECT COUNT(*) AS n FROM ticket_search")).toBe(n(source, "SELECT COUNT(*) AS n FROM ticket_search"));
  });

  test("a count kept in shards on PostgreSQL comes back to SQLite as one row holding their sum", async () => {
    const source = sqliteDb();
    seed(source);
    const pg = await pgDb();
    await pg.begin((tx) => copyRows({ kind: "sqlite", sqlite: source }, { kind: "postgres", sql: tx }));
    // What concurrent creates on PostgreSQL leave: the same count in several shards.
    await pg`INSERT INTO ticket_counts (org_id, status, priority, shard, count) VALUES ('org_1', 'open', 'high', 7, 5), ('org_1', 'open', 'high', 11, 2)`;
    expect((await countRows({ kind: "postgres", sql: pg })).ticket_counts).toBe(3);
    const back = sqliteDb();
    back.exec("BEGIN");
    await pg.begin("ISOLATION LEVEL REPEATABLE READ READ ONLY", (tx) =>
      copyRows({ kind: "postgres", sql: tx }, { kind: "sqlite", sqlite: back }, { batchRows: 2 }),
    );
    back.exec("COMMIT");
    expect(back.query("SELECT org_id, status, priority, count FROM ticket_counts ORDER BY org_id").all()).toEqual([
      { org_id: "org_0", status: "open", priority: "high", count: 30 },
      { org_id: "org_1", status: "open", priority: "high", count: 37 },
      { org_id: "org_2", status: "open", priority: "high", count: 30 },
    ]);
  });

  test("a target with any row is refused before anything is written", async () => {
    const source = sqliteDb();
    seed(source);
    const pg = await pgDb();
    await pg`INSERT INTO settings (name, value) VALUES ('download_url_key', ${"cd".repeat(32)})`;
    const err = await pg.begin((tx) => copyRows({ kind: "sqlite", sqlite: source }, { kind: "postgres", sql: tx })).catch((e) => e);
    expect(err).toBeInstanceOf(TargetNotEmpty);
    expect(err.message).toBe("the target database is not empty (table settings has rows)");
    expect(await firstNonEmptyTable({ kind: "postgres", sql: pg })).toBe("settings");
    expect(Object.values(await countRows({ kind: "postgres", sql: pg })).every((n) => n === 0)).toBe(true);

    const lite = sqliteDb();
    lite.query("INSERT INTO orgs (id, name, plan, created_at) VALUES ('org_x', 'x', 'free', 1)").run();
    const err2 = await pg.begin("READ ONLY", (tx) => copyRows({ kind: "postgres", sql: tx }, { kind: "sqlite", sqlite: lite })).catch((e) => e);
    expect(err2).toBeInstanceOf(TargetNotEmpty);
  });

  test("text PostgreSQL cannot hold (U+0000) fails the copy naming the row, and the transaction leaves no row", async () => {
    const source = sqliteDb();
    seed(source);
    source.query("UPDATE tickets SET description = ? WHERE id = 'tkt_2_007'").run("nul\0inside");
    const pg = await pgDb();
    const err = await pg.begin((tx) => copyRows({ kind: "sqlite", sqlite: source }, { kind: "postgres", sql: tx })).catch((e) => e);
    expect(err).toBeInstanceOf(CopyError);
    expect(err.message).toBe('tickets.description (id="tkt_2_007") holds U+0000, which PostgreSQL text cannot store');
    expect(await firstNonEmptyTable({ kind: "postgres", sql: pg })).toBeNull();
  });
});
