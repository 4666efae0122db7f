// The contacts list's `q` (prefix of email or name) and `email=` are index range scans on both engines, never a scan of the organization's contacts: SQLite's plan of the store's own WHERE, PostgreSQL's plan of the store's own statements (auto_explain, sent to the client).
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { Database } from "bun:sqlite";
import postgres, { type Sql } from "postgres";
import { type ContactFilter, filterShape } from "../src/contacts/store";
import { postgresContactStore } from "../src/contacts/store-postgres";
import { migrate } from "../src/db/migrate";
import { openDatabase } from "../src/db/client";
import { migratePostgres } from "../src/db/postgres/migrate";
import { freshDatabase, postgresUrl } from "./services/postgres";
import { tempDir } from "./helpers";
import { rmSync } from "node:fs";

setDefaultTimeout(60_000);

const FILTERS: [string, ContactFilter][] = [
  ["q (prefix)", { prefix: "ada" }],
  ["q at the top of the code points", { prefix: "\u{10ffff}" }],
  ["email", { emailKey: "ada@example.test" }],
];

describe("contacts list plans (SQLite)", () => {
  let dir: string;
  let db: Database;
  let close: () => void;
  beforeAll(() => {
    dir = tempDir("cc-contacts-plan");
    const handle = openDatabase(dir);
    migrate(handle.sqlite);
    db = handle.sqlite;
    close = () => handle.close();
  });
  afterAll(() => {
    close();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const [label, f] of FILTERS) {
    test(`${label}: the page, the keyset page and the count search contacts_org_email / contacts_org_name, no scan`, () => {
      const { where, args } = filterShape(f);
      for (const sql of [
        `SELECT * FROM contacts WHERE ${where} ORDER BY created_at DESC, id DESC LIMIT 25 OFFSET 0`,
        `SELECT * FROM contacts WHERE ${where} AND (created_at, id) < (1, 'x') ORDER BY created_at DESC, id DESC LIMIT 25`,
        `SELECT COUNT(*) FROM contacts WHERE ${where}`,
      ]) {
        const plan = (db.query(`EXPLAIN QUERY PLAN ${sql}`).all("org_x", ...args) as { detail: string }[]).map((r) => r.detail).join("\n");
        expect(plan).toContain("contacts_org_email");
        if (f.prefix) expect(plan).toContain("contacts_org_name");
        expect(plan).not.toMatch(/SCAN contacts|contacts_org_created/);
      }
    });
  }
});

const base = await postgresUrl();
if (!base) process.stderr.write("test/contacts-plan.test.ts: PostgreSQL part skipped (no PostgreSQL server; see the line above)\n");

describe.skipIf(!base)("contacts list plans (PostgreSQL)", () => {
  let fresh: { url: string; drop(): Promise<void> };
  let sql: Sql;
  const plans: string[] = [];
  beforeAll(async () => {
    fresh = await freshDatabase();
    const setup = postgres(fresh.url, { max: 1, onnotice: () => {} });
    await migratePostgres(setup);
    // Two organizations of 20,000 contacts each: enough that a scan would be the planner's choice if no index served.
    for (const org of ["org_a", "org_b"]) {
      await setup`INSERT INTO orgs (id, name, plan, created_at) VALUES (${org}, ${org}, 'pro', 0)`;
      await setup.unsafe(
        `INSERT INTO contacts (id, org_id, email, email_key, name, name_key, created_at, updated_at)
         SELECT '${org}_con_' || i, '${org}', 'person' || i || '@example.test', 'person' || i || '@example.test',
                'Name ' || md5(i::text), 'name ' || md5(i::text), i, i FROM generate_series(1, 20000) AS i`,
      );
    }
    await setup`ANALYZE contacts`;
    await setup.end();
    // One connection whose every statement's plan comes back as a notice (auto_explain at NOTICE level).
    sql = postgres(fresh.url, { max: 1, onnotice: (n) => plans.push(String(n.message)) });
    await sql`LOAD 'auto_explain'`;
    await sql`SET auto_explain.log_min_duration = 0`;
    await sql`SET auto_explain.log_level = notice`;
    await sql`SET auto_explain.log_nested_statements = on`;
  });
  afterAll(async () => {
    await sql?.end();
    await fresh?.drop();
  });

  for (const [label, f] of FILTERS) {
    test(`${label}: the page, the keyset page and the count use contacts_org_email / contacts_org_name, no Seq Scan`, async () => {
      const store = postgresContactStore(sql, "read");
      for (const call of [
        () => store.page("org_a", f, 25, 0),
        () => store.pageAfter("org_a", f, { created_at: 10_000, id: "org_a_con_10000" }, 25),
        () => store.total("org_a", f),
      ]) {
        plans.length = 0;
        await call();
        const plan = plans.join("\n");
        expect(plan).toContain("contacts_org_email");
        if (f.prefix) expect(plan).toContain("contacts_org_name");
        expect(plan).not.toContain("Seq Scan");
      }
    });
  }
});
