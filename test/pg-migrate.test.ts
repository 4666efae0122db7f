// PostgreSQL foundations: URL parsing and redaction, the client's type mapping and settings, and the migrations (same schema as SQLite, once under concurrency, newer builds refused).
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Database } from "bun:sqlite";
import type { Table } from "drizzle-orm";
import type { Sql } from "postgres";
import { migrate, SchemaError } from "../src/db/migrate";
import { checkPostgres, openPostgres, parseDatabaseUrl, redactDatabaseUrl, type PostgresHandle } from "../src/db/postgres/client";
import { migratePostgres, MIGRATIONS_TABLE, POSTGRES_SCHEMA_VERSION, readPostgresSchemaVersion } from "../src/db/postgres/migrate";
import * as schema from "../src/db/schema";
import { columnList, type RawRow } from "../src/db/schema/raw-row";
import { freshDatabase, postgresUrl } from "./services/postgres";

// Real servers, created databases and concurrent pools: room for a loaded machine (each test takes well under 2 s alone).
setDefaultTimeout(30_000);
// Prints one line saying why when there is no server (never a silent skip).
const base = await postgresUrl();

describe("parseDatabaseUrl", () => {
  test.each([
    ["postgres://u:p@h:5432/db"],
    ["postgresql://u@h/db?sslmode=verify-full"],
    ["postgres://u:p%40ss@[::1]:5433/db?sslmode=disable&application_name=cc"],
    ["postgres://u@h/db?sslmode=verify-ca&sslrootcert=/etc/ssl/ca.pem"],
    ["postgres://u@h/my%2Fdb"],
  ])("accepts %s", (raw) => {
    expect(parseDatabaseUrl(raw)).toBeInstanceOf(URL);
  });

  const bad: [string, RegExp][] = [
    ["", /^not a URL such as postgres:\/\/user:password@host:5432\/database/],
    ["not a url", /^not a URL/],
    ["postgres://u:secret@/db", /^not a URL .*percent-encode/],
    ["postgres://u:sec#ret@h/db", /^not a URL/],
    ["mysql://u:secret@h/db", /^expected a postgres:\/\/ or postgresql:\/\/ URL .*got one starting "mysql:\/\/"$/],
    ["http://u:secret@h/db", /^expected a postgres:\/\/ or postgresql:\/\/ URL/],
    ["postgres:///db", /^the URL has no host/],
    ["postgres://u:secret@h1,h2/db", /^the URL names several hosts/],
    ["postgres://u:secret@h:0/db", /^the URL's port must be from 1 to 65535$/],
    ["postgres://u:secret@h:99999/db", /^not a URL/],
    ["postgres://:secret@h/db", /^the URL has no user name/],
    ["postgres://u:secret@h", /^the URL has no database name/],
    ["postgres://u:secret@h/", /^the URL has no database name/],
    ["postgres://u:secret@h/a/b", /^the URL's path must be just the database name/],
    ["postgres://u:secret%zz@h/db", /^the URL's user name or password has a malformed %-escape$/],
    ["postgres://u:secret@h/db%zz", /^the URL's database name has a malformed %-escape$/],
    ["postgres://u:secret@h/db#frag", /^the URL has a #fragment/],
    ["postgres://u:secret@h/db?sslmode=allow", /^sslmode must be one of disable, prefer, require, verify-ca, verify-full, got "allow"$/],
    ["postgres://u:secret@h/db?sslmode=VERIFY-FULL", /^sslmode must be one of .*got "VERIFY-FULL"$/],
    ["postgres://u:secret@h/db?sslmode=", /^sslmode must be one of .*got ""$/],
    ["postgres://u:secret@h/db?ssl=true", /^the URL has an unknown parameter "ssl" \(allowed: sslmode, sslrootcert, application_name\)$/],
    ["postgres://u:secret@h/db?password=secret", /^the URL has an unknown parameter "password"/],
    ["postgres://u:secret@h/db?sslmode=require&sslmode=disable", /^the URL gives the parameter "sslmode" twice$/],
    ["postgres://u:secret@h/db?sslmode=require&sslrootcert=/ca.pem", /^sslrootcert needs sslmode=verify-ca or sslmode=verify-full$/],
    ["postgres://u:secret@h/db?sslrootcert=/ca.pem", /^sslrootcert needs/],
    ["postgres://u:secret@h/db?sslmode=verify-full&sslrootcert=", /^sslrootcert must be a file path or "system"$/],
  ];
  test.each(bad)("refuses %s with one clear line that never shows the password", (raw, message) => {
    let error: unknown;
    try {
      parseDatabaseUrl(raw);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(Error);
    const text = (error as Error).message;
    expect(text).toMatch(message);
    expect(text).not.toContain("\n");
    expect(text).not.toContain("secret");
  });
});

describe("redactDatabaseUrl", () => {
  test.each([
    ["postgres://u:secret@h:5432/db", "postgres://u:********@h:5432/db"],
    ["postgresql://u:s%40cr%3Aet@h/db?sslmode=require", "postgresql://u:********@h/db?sslmode=require"],
    ["postgres://u@h/db", "postgres://u@h/db"],
    ["postgres://u@h/db?password=secret&sslmode=disable", "postgres://u@h/db?password=********&sslmode=disable"],
    // Unparseable (a raw "@" and "/" in the password): masked all the same.
    ["postgres://u:se@c/ret@h/db", "postgres://u:********@h/db"],
    ["postgres://u:@h/db", "postgres://u:@h/db"],
    ["postgres://u@h:5432/db", "postgres://u@h:5432/db"],
    ["postgres://u:secret@h:99999/db", "postgres://u:********@h:99999/db"],
    ["not a url password=secret", "not a url password=********"],
  ])("%s → %s", (raw, masked) => {
    expect(redactDatabaseUrl(raw)).toBe(masked);
    expect(redactDatabaseUrl(raw)).not.toContain("secret");
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Against a real server.

const T0 = 1_795_751_384_181;

/** A SQLite database as the product migrates it, in memory: the reference every PostgreSQL answer is compared with. */
function sqliteReference(): Database {
  const db = new Database(":memory:", { strict: true });
  db.exec("PRAGMA foreign_keys = ON");
  migrate(db);
  return db;
}

const tableName = (t: Table) => (t as unknown as { [k: symbol]: string })[Symbol.for("drizzle:Name")]!;
const TABLES = (Object.values(schema).filter((v) => typeof v === "object" && v !== null && "getSQL" in v) as Table[]).map(tableName).sort();
/**
 * Tables only PostgreSQL has: `settings` holds what instances share (the download signing key; SQLite keeps it in the
 * data dir); `instances` their heartbeats and `rate_limits` the shared buckets (migration 0004; SQLite is one process).
 */
const POSTGRES_ONLY_TABLES = ["settings", "instances", "rate_limits"];
/**
 * The full-text search index (migration 0006): derived from tickets and comments by triggers, in each engine's own
 * form (SQLite: FTS5 tables and ticket_search_tickets/_comments, migration 0003), so not compared column for column.
 */
const SEARCH_TABLES = ["ticket_search"];
/**
 * Columns (and their index) only PostgreSQL has: the webhook delivery claims, leases that coordinate instances sharing
 * the database (migration 0002). SQLite has one process per data dir (its lock), which keeps them in memory.
 */
const POSTGRES_ONLY_COLUMNS: Column[] = [
  // The instance whose request holds an idempotency claim (migration 0004), so a dead instance's claims are released.
  { table: "idempotency_keys", name: "owner", type: "text", notNull: false, default: null },
  // Count shards (migration 0003): a count is the SUM of its rows; SQLite's single writer keeps one row.
  { table: "ticket_counts", name: "shard", type: "integer", notNull: true, default: "0" },
  { table: "webhook_deliveries", name: "claimed_by", type: "text", notNull: false, default: null },
  { table: "webhook_deliveries", name: "claimed_until", type: "integer", notNull: false, default: null },
];
const POSTGRES_ONLY_INDEXES: Index[] = [
  { table: "webhook_deliveries", name: "deliveries_webhook_claimed", unique: false, columns: ["webhook_id", "claimed_until"] },
];
/** Primary keys that differ on PostgreSQL: ticket_counts is keyed by its shard too (migration 0003). */
const POSTGRES_PRIMARY_KEYS: Record<string, string[]> = { ticket_counts: ["org_id", "status", "priority", "shard"] };
const postgresOnly =
  <T extends { table: string; name: string }>(only: T[]) =>
  (x: T) =>
    only.some((o) => o.table === x.table && o.name === x.name);

interface Column {
  table: string;
  name: string;
  type: string;
  notNull: boolean;
  default: string | null;
}
interface Index {
  table: string;
  name: string;
  unique: boolean;
  columns: string[];
}
interface ForeignKey {
  table: string;
  column: string;
  references: string;
  onDelete: string;
}

function sqliteSchema(db: Database) {
  const columns: Column[] = [];
  const indexes: Index[] = [];
  const foreignKeys: ForeignKey[] = [];
  const primaryKeys: Record<string, string[]> = {};
  for (const table of TABLES) {
    const info = db.query(`PRAGMA table_info(${table})`).all() as { name: string; type: string; notnull: number; dflt_value: string | null; pk: number }[];
    for (const c of info) {
      // INTEGER PRIMARY KEY is NOT NULL in SQLite whatever the column says.
      columns.push({ table, name: c.name, type: c.type.toLowerCase(), notNull: c.notnull === 1 || c.pk > 0, default: c.dflt_value });
    }
    primaryKeys[table] = info
      .filter((c) => c.pk > 0)
      .sort((a, b) => a.pk - b.pk)
      .map((c) => c.name);
    const list = db.query(`PRAGMA index_list(${table})`).all() as { name: string; unique: number; origin: string }[];
    for (const ix of list.filter((i) => i.origin === "c")) {
      const cols = (db.query(`PRAGMA index_info(${ix.name})`).all() as { seqno: number; name: string }[]).sort((a, b) => a.seqno - b.seqno).map((c) => c.name);
      indexes.push({ table, name: ix.name, unique: ix.unique === 1, columns: cols });
    }
    for (const fk of db.query(`PRAGMA foreign_key_list(${table})`).all() as { table: string; from: string; to: string; on_delete: string }[]) {
      foreignKeys.push({ table, column: fk.from, references: `${fk.table}(${fk.to})`, onDelete: fk.on_delete });
    }
  }
  const order = <T extends { table: string; name?: string; column?: string }>(xs: T[]) =>
    xs.sort((a, b) => `${a.table}.${a.name ?? a.column}`.localeCompare(`${b.table}.${b.name ?? b.column}`));
  return { columns, indexes: order(indexes), foreignKeys: order(foreignKeys), primaryKeys };
}

const PG_ON_DELETE: Record<string, string> = { a: "NO ACTION", r: "RESTRICT", c: "CASCADE", n: "SET NULL", d: "SET DEFAULT" };
const PG_TO_SQLITE_TYPE: Record<string, string> = { bigint: "integer", text: "text" };

async function postgresSchema(sql: Sql) {
  const cols = await sql`
    SELECT table_name, column_name, data_type, is_nullable, column_default, collation_name
    FROM information_schema.columns WHERE table_schema = current_schema() AND table_name IN ${sql(TABLES)}
    ORDER BY table_name, ordinal_position`;
  const columns: Column[] = cols.map((c) => ({
    table: c.table_name,
    name: c.column_name,
    type: PG_TO_SQLITE_TYPE[c.data_type] ?? c.data_type,
    notNull: c.is_nullable === "NO",
    // PostgreSQL shows a text literal default with its cast ('[]'::text); SQLite shows the literal.
    default: typeof c.column_default === "string" ? c.column_default.replace(/::text$/, "") : c.column_default,
  }));
  const textCollations = [...new Set(cols.filter((c) => c.data_type === "text").map((c) => c.collation_name))];
  const ix = await sql`
    SELECT t.relname AS table, i.relname AS name, x.indisunique AS unique, x.indisprimary AS primary,
      ARRAY(SELECT a.attname::text FROM unnest(x.indkey) WITH ORDINALITY k(attnum, n) JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.n) AS columns
    FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
    WHERE t.relnamespace = current_schema()::regnamespace AND t.relname IN ${sql(TABLES)}`;
  const indexes: Index[] = ix.filter((i) => !i.primary).map((i) => ({ table: i.table, name: i.name, unique: i.unique === 1, columns: i.columns }));
  const primaryKeys: Record<string, string[]> = Object.fromEntries(TABLES.map((t) => [t, [] as string[]]));
  for (const i of ix.filter((i) => i.primary)) primaryKeys[i.table] = i.columns;
  const fks = await sql`
    SELECT c.conrelid::regclass::text AS table, a.attname AS column, c.confrelid::regclass::text AS parent, p.attname AS parent_column, c.confdeltype AS on_delete
    FROM pg_constraint c
    JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
    JOIN pg_attribute p ON p.attrelid = c.confrelid AND p.attnum = c.confkey[1]
    WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace`;
  const foreignKeys: ForeignKey[] = fks.map((f) => ({
    table: f.table,
    column: f.column,
    references: `${f.parent}(${f.parent_column})`,
    onDelete: PG_ON_DELETE[f.on_delete]!,
  }));
  const order = <T extends { table: string; name?: string; column?: string }>(xs: T[]) =>
    xs.sort((a, b) => `${a.table}.${a.name ?? a.column}`.localeCompare(`${b.table}.${b.name ?? b.column}`));
  return { columns, indexes: order(indexes), foreignKeys: order(foreignKeys), primaryKeys, textCollations };
}

describe.skipIf(!base)("PostgreSQL (a real server)", () => {
  const handles: PostgresHandle[] = [];
  const drops: (() => Promise<void>)[] = [];
  /** A fresh empty database and a pool on it, both removed after the file. */
  async function freshPool(opts: { poolSize?: number; statementTimeoutMs?: number; applicationName?: string } = {}) {
    const db = await freshDatabase();
    drops.push(db.drop);
    const h = openPostgres({
      url: db.url,
      poolSize: opts.poolSize ?? 4,
      statementTimeoutMs: opts.statementTimeoutMs ?? 10_000,
      applicationName: opts.applicationName,
    });
    handles.push(h);
    return { url: db.url, sql: h.sql, handle: h };
  }
  afterAll(async () => {
    await Promise.all(handles.map((h) => h.close()));
    await Promise.all(drops.map((drop) => drop()));
  }, 30_000);

  describe("migratePostgres", () => {
    test("an empty database gets the same tables, columns, keys and indexes as SQLite, every text column in byte order", async () => {
      const { sql } = await freshPool();
      expect(await readPostgresSchemaVersion(sql)).toBe(0);
      const result = await migratePostgres(sql);
      expect(result.applied.length).toBe(POSTGRES_SCHEMA_VERSION);
      expect(result.applied[0]).toBe("0000_init");
      expect(result.schemaVersion).toBe(POSTGRES_SCHEMA_VERSION);
      expect(await readPostgresSchemaVersion(sql)).toBe(POSTGRES_SCHEMA_VERSION);

      const tables = (await sql`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name`).map(
        (r) => r.table_name,
      );
      expect(tables).toEqual([...TABLES, ...POSTGRES_ONLY_TABLES, ...SEARCH_TABLES, MIGRATIONS_TABLE].sort());
      const settings = await sql`
        SELECT column_name, data_type, is_nullable, collation_name FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = 'settings' ORDER BY ordinal_position`;
      expect(settings.map((c) => ({ ...c }))).toEqual([
        { column_name: "name", data_type: "text", is_nullable: "NO", collation_name: "C" },
        { column_name: "value", data_type: "text", is_nullable: "NO", collation_name: "C" },
      ]);

      const lite = sqliteReference();
      const want = sqliteSchema(lite);
      lite.close();
      const got = await postgresSchema(sql);
      expect(got.columns.filter(postgresOnly(POSTGRES_ONLY_COLUMNS))).toEqual(POSTGRES_ONLY_COLUMNS);
      expect(got.indexes.filter(postgresOnly(POSTGRES_ONLY_INDEXES))).toEqual(POSTGRES_ONLY_INDEXES);
      expect(got.columns.filter((c) => !postgresOnly(POSTGRES_ONLY_COLUMNS)(c))).toEqual(want.columns);
      expect(got.primaryKeys).toEqual({ ...want.primaryKeys, ...POSTGRES_PRIMARY_KEYS });
      expect(got.indexes.filter((i) => !postgresOnly(POSTGRES_ONLY_INDEXES)(i))).toEqual(want.indexes);
      expect(got.foreignKeys).toEqual(want.foreignKeys);
      expect(got.textCollations).toEqual(["C"]);
      expect(want.indexes.length).toBeGreaterThan(20);
      expect(want.foreignKeys.length).toBeGreaterThan(15);
    });

    test("a second run applies nothing and changes nothing", async () => {
      const { sql } = await freshPool();
      await migratePostgres(sql);
      const before = await postgresSchema(sql);
      expect(await migratePostgres(sql)).toEqual({ applied: [], schemaVersion: POSTGRES_SCHEMA_VERSION });
      expect(await postgresSchema(sql)).toEqual(before);
      const [n] = await sql.unsafe(`SELECT COUNT(*) AS n FROM ${MIGRATIONS_TABLE}`);
      expect(n!.n).toBe(POSTGRES_SCHEMA_VERSION);
    });

    test("two instances migrating one empty database at once: applied exactly once, neither fails", async () => {
      const { url, sql } = await freshPool();
      for (let round = 0; round < 3; round++) {
        const target = round === 0 ? url : (await freshPool()).url;
        const a = openPostgres({ url: target, poolSize: 2, statementTimeoutMs: 10_000 });
        const b = openPostgres({ url: target, poolSize: 2, statementTimeoutMs: 10_000 });
        handles.push(a, b);
        // Connected before the race, so both reach the lock together.
        await Promise.all([a.sql`SELECT 1`, b.sql`SELECT 1`]);
        const results = await Promise.all([migratePostgres(a.sql), migratePostgres(b.sql)]);
        // Each migration is a transaction of its own under the lock: the two may share the work, never repeat it.
        const applied = results.flatMap((r) => r.applied);
        expect(applied.length).toBe(POSTGRES_SCHEMA_VERSION);
        expect(new Set(applied).size).toBe(POSTGRES_SCHEMA_VERSION);
        expect(results.every((r) => r.schemaVersion === POSTGRES_SCHEMA_VERSION)).toBe(true);
        const [n] = await a.sql.unsafe(`SELECT COUNT(*) AS n FROM ${MIGRATIONS_TABLE}`);
        expect(n!.n).toBe(POSTGRES_SCHEMA_VERSION);
      }
      expect(await readPostgresSchemaVersion(sql)).toBe(POSTGRES_SCHEMA_VERSION);
    });

    test("a database written by a newer build is refused with the clear message and left as it was", async () => {
      const { sql } = await freshPool();
      await migratePostgres(sql);
      await sql.unsafe(`INSERT INTO ${MIGRATIONS_TABLE} (version, tag, hash, applied_at) VALUES ($1, $2, $3, $4)`, [
        POSTGRES_SCHEMA_VERSION,
        `${String(POSTGRES_SCHEMA_VERSION).padStart(4, "0")}_from_the_future`,
        "f".repeat(64),
        T0,
      ]);
      const before = await postgresSchema(sql);
      const err = await migratePostgres(sql).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SchemaError);
      expect((err as Error).message).toBe(
        `This database was written by a newer version of Client Cove (schema version ${POSTGRES_SCHEMA_VERSION + 1}; this executable knows ${POSTGRES_SCHEMA_VERSION}). Upgrade the executable; the database was not changed.`,
      );
      expect(await postgresSchema(sql)).toEqual(before);
      expect(await readPostgresSchemaVersion(sql)).toBe(POSTGRES_SCHEMA_VERSION + 1);
    });

    test("a database whose recorded migration differs from this build's is refused", async () => {
      const { sql } = await freshPool();
      await migratePostgres(sql);
      await sql.unsafe(`UPDATE ${MIGRATIONS_TABLE} SET hash = $1 WHERE version = 0`, ["0".repeat(64)]);
      const err = await migratePostgres(sql).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SchemaError);
      expect((err as Error).message).toMatch(
        /^This database has a migration this executable does not know \(0000_init, recorded as version 0\); it was written by a different build of Client Cove\. The database was not changed\.$/,
      );
    });

    test("a non-empty database Client Cove never migrated is refused untouched", async () => {
      const { sql } = await freshPool();
      await sql`CREATE TABLE users (id integer)`;
      const err = await migratePostgres(sql).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SchemaError);
      expect((err as Error).message).toBe(
        "This database already has tables that Client Cove did not create (users); give it an empty database. The database was not changed.",
      );
      expect((await sql`SELECT to_regclass(${MIGRATIONS_TABLE}) AS t`)[0]!.t).toBeNull();
    });

    test("a database that is not UTF8 is refused", async () => {
      const admin = openPostgres({ url: base!, poolSize: 1, statementTimeoutMs: 10_000 });
      handles.push(admin);
      const name = `cc_ascii_${Date.now().toString(36)}`;
      await admin.sql.unsafe(`CREATE DATABASE ${name} ENCODING 'SQL_ASCII' LOCALE_PROVIDER libc LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`);
      const u = new URL(base!);
      u.pathname = `/${name}`;
      const h = openPostgres({ url: u.toString(), poolSize: 1, statementTimeoutMs: 10_000 });
      try {
        const err = await migratePostgres(h.sql).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(SchemaError);
        expect((err as Error).message).toMatch(/^This PostgreSQL database's encoding is SQL_ASCII; Client Cove needs UTF8/);
      } finally {
        await h.close();
        await admin.sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      }
    });
  });

  describe("rows read back as SQLite's raw rows", () => {
    let sql: Sql;
    let lite: Database;
    beforeAll(async () => {
      sql = (await freshPool()).sql;
      await migratePostgres(sql);
      lite = sqliteReference();
    });
    afterAll(() => lite.close());

    /** Inserts the same row into both engines. */
    async function insertBoth<T extends Table>(table: T, row: Partial<RawRow<T>>) {
      const name = tableName(table);
      const cols = Object.keys(row);
      const values = Object.values(row) as (string | number | null)[];
      lite.query(`INSERT INTO ${name} (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`).run(...values);
      await sql.unsafe(`INSERT INTO ${name} (${cols.join(", ")}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(", ")})`, values);
    }
    /** Both engines' answers to one query (`?` placeholders, rewritten to `$n` for PostgreSQL). */
    type Rows = Record<string, unknown>[];
    async function both(query: string, ...args: (string | number | null)[]): Promise<{ sqlite: Rows; pg: Rows }> {
      let i = 0;
      const pg: Rows = (
        await sql.unsafe(
          query.replace(/\?/g, () => `$${++i}`),
          args,
        )
      ).map((r) => ({ ...r }));
      return { sqlite: lite.query(query).all(...args) as Rows, pg };
    }

    test("one row of every table: equal values, numbers for every integer column, text for JSON", async () => {
      const org = "org_0000000000000001";
      const user = "user_000000000000001";
      const key = "key_0000000000000001";
      await insertBoth(schema.orgs, { id: org, name: "Acme", plan: "pro", created_at: T0 });
      await insertBoth(schema.users, { id: user, org_id: org, email: "ann@example.com", name: "Ann", role: "owner", created_at: T0 + 1 });
      await insertBoth(schema.apiKeys, {
        id: key,
        org_id: org,
        user_id: user,
        name: "ci",
        prefix: "cc_ab12",
        hash: "ab".repeat(32),
        created_at: T0,
        last_used_at: T0 + 5,
        expires_at: null,
        revoked_at: null,
      });
      await insertBoth(schema.contacts, {
        id: "con_0000000000000001",
        org_id: org,
        email: "Zoë@Example.com",
        email_key: "zoë@example.com",
        name: "Zoë",
        name_key: "zoë",
        phone: "+33 1 23 45 67 89",
        external_id: "crm-42",
        created_at: T0,
        updated_at: T0 + 1,
        deleted_at: null,
      });
      await insertBoth(schema.contacts, { id: "con_0000000000000002", org_id: org, created_at: T0, updated_at: T0 + 3, deleted_at: T0 + 3 });
      await insertBoth(schema.ticketFields, {
        id: "tfd_0000000000000001",
        org_id: org,
        key: "order_id",
        title: "Order",
        type: "dropdown",
        options: '["A-1001","B-2"]',
        required: 1,
        created_at: T0,
        updated_at: T0,
      });
      await insertBoth(schema.tickets, {
        id: "tkt_0000000000000001",
        requester_id: "con_0000000000000001",
        assignee_id: user,
        tags: '["billing","vip:gold"]',
        custom_fields: '{"order_id":"A-1001"}',
        org_id: org,
        subject: "Printer ✓ on fire 🔥",
        description: "line 1\nline 2\ttab",
        status: "open",
        priority: "urgent",
        created_by: user,
        created_at: T0,
        updated_at: T0 + 2,
      });
      await insertBoth(schema.ticketCounts, { org_id: org, status: "open", priority: "urgent", count: 1 });
      for (const tag of ["billing", "vip:gold"]) {
        await insertBoth(schema.ticketTags, { org_id: org, tag, ticket_id: "tkt_0000000000000001", status: "open", created_at: T0, updated_at: T0 + 2 });
      }
      await insertBoth(schema.comments, {
        id: "cmt_0000000000000001",
        org_id: org,
        ticket_id: "tkt_0000000000000001",
        author_id: "con_0000000000000001",
        author_type: "contact",
        body: "It still burns 🔥\nsecond line",
        public: 1,
        created_at: T0 + 1,
        redacted_at: null,
        redacted_by: null,
      });
      await insertBoth(schema.comments, {
        id: "cmt_0000000000000002",
        org_id: org,
        ticket_id: "tkt_0000000000000001",
        author_id: user,
        author_type: "user",
        body: "[redacted]",
        public: 0,
        created_at: T0 + 2,
        redacted_at: T0 + 3,
        redacted_by: user,
      });
      // seq and attempt ids are left to the engine, as the stores do.
      await insertBoth(schema.events, {
        id: "evt_0000000000000001",
        org_id: org,
        type: "ticket.updated",
        data: '{"id":"tkt_0000000000000001","n":1.5}',
        changed_fields: '["status"]',
        created_at: T0,
        dispatched_at: null,
      });
      await insertBoth(schema.events, { id: "evt_0000000000000002", org_id: org, type: "ticket.created", data: "{}", created_at: T0, dispatched_at: T0 + 9 });
      await insertBoth(schema.folders, {
        id: "fld_0000000000000001",
        org_id: org,
        parent_id: null,
        parent_key: "",
        name: "Docs",
        created_at: T0,
        updated_at: T0,
      });
      await insertBoth(schema.folders, {
        id: "fld_0000000000000002",
        org_id: org,
        parent_id: "fld_0000000000000001",
        parent_key: "fld_0000000000000001",
        name: "Résumés",
        created_at: T0,
        updated_at: T0,
      });
      await insertBoth(schema.files, {
        id: "file_000000000000001",
        org_id: org,
        folder_id: "fld_0000000000000002",
        ticket_id: "tkt_0000000000000001",
        filename: "naïve résumé.pdf",
        size_bytes: 5 * 2 ** 40, // beyond 32 bits
        mime_type: "application/pdf",
        sha256: "cd".repeat(32),
        storage_key: "files/or/org_0000000000000001/file_000000000000001",
        uploaded_by: user,
        uploaded_at: T0 + 3,
      });
      await insertBoth(schema.commentAttachments, { comment_id: "cmt_0000000000000001", file_id: "file_000000000000001", position: 0 });
      await insertBoth(schema.webhooks, {
        id: "wh_00000000000000001",
        org_id: org,
        url: "https://example.com/hook?a=1",
        events: '["*"]',
        description: null,
        secret: "whsec_abc",
        previous_secret: "whsec_old",
        previous_secret_expires_at: T0 + 86_400_000,
        active: 1,
        disabled_reason: null,
        disabled_at: null,
        created_at: T0,
        updated_at: T0,
      });
      // attempt_count and max_attempts from their defaults.
      await insertBoth(schema.webhookDeliveries, {
        id: "dlv_0000000000000001",
        org_id: org,
        webhook_id: "wh_00000000000000001",
        event_id: "evt_0000000000000001",
        event_type: "ticket.updated",
        payload: '{"type":"ticket.updated"}',
        status: "pending",
        next_attempt_at: T0 + 1000,
        created_at: T0,
        updated_at: T0,
      });
      await insertBoth(schema.webhookAttempts, {
        delivery_id: "dlv_0000000000000001",
        attempted_at: T0 + 1000,
        status_code: 503,
        error: "HTTP 503",
        duration_ms: 12,
        response_body: "busy",
      });
      await insertBoth(schema.webhookAttempts, {
        delivery_id: "dlv_0000000000000001",
        attempted_at: T0 + 2000,
        status_code: null,
        error: "timeout",
        duration_ms: 0,
      });
      await insertBoth(schema.idempotencyKeys, {
        key_id: key,
        idempotency_key: "retry-1",
        fingerprint: "ef".repeat(32),
        response_status: 201,
        response_headers: '{"location":"/v1/tickets/tkt_0000000000000001"}',
        response_body: '{"id":"tkt_0000000000000001"}',
        created_at: T0,
      });
      await insertBoth(schema.idempotencyKeys, { key_id: key, idempotency_key: "in-flight", fingerprint: "00".repeat(32), created_at: T0 + 1 });

      for (const name of TABLES) {
        const table = Object.values(schema).find((v) => typeof v === "object" && v !== null && "getSQL" in v && tableName(v as Table) === name) as Table;
        const { sqlite, pg } = await both(`SELECT ${columnList(table)} FROM ${name} ORDER BY 1, 2`);
        expect({ name, rows: pg }).toEqual({ name, rows: sqlite });
        expect(pg.length).toBeGreaterThan(0);
      }
      const { pg: events } = await both("SELECT seq, created_at FROM events ORDER BY seq");
      expect(events).toEqual([
        { seq: 1, created_at: T0 },
        { seq: 2, created_at: T0 },
      ]);
      const [hook] = (await both(`SELECT ${columnList(schema.webhooks)} FROM webhooks`)).pg as unknown as RawRow<typeof schema.webhooks>[];
      expect(hook!.active).toBe(1);
      expect(hook!.consecutive_failures).toBe(0);
      expect(typeof hook!.created_at).toBe("number");
      expect(hook!.events).toBe('["*"]');
      const [file] = (await both("SELECT size_bytes FROM files")).pg;
      expect(file).toEqual({ size_bytes: 5 * 2 ** 40 });
    });

    test("aggregates, comparisons and EXISTS answer as SQLite does (numbers, 1/0, null on no rows)", async () => {
      const query = `SELECT COUNT(*) AS n, SUM(size_bytes) AS bytes, MAX(uploaded_at) AS latest,
          EXISTS (SELECT 1 FROM files WHERE folder_id = ?) AS has_file, (COUNT(*) = 1) AS exactly_one, (COUNT(*) > 1) AS several
        FROM files WHERE org_id = ?`;
      const { sqlite, pg } = await both(query, "fld_0000000000000002", "org_0000000000000001");
      expect(pg).toEqual(sqlite);
      expect(pg).toEqual([{ n: 1, bytes: 5 * 2 ** 40, latest: T0 + 3, has_file: 1, exactly_one: 1, several: 0 }]);
      const none = await both("SELECT SUM(count) AS total, COUNT(*) AS n, MAX(count) AS latest FROM ticket_counts WHERE org_id = ?", "org_nobody");
      expect(none.pg).toEqual(none.sqlite);
      expect(none.pg).toEqual([{ total: null, n: 0, latest: null }]);
    });

    test("names compare and sort by their bytes, as SQLite's BINARY collation (the server's default collation is linguistic)", async () => {
      const org = "org_0000000000000001";
      const names = ["b", "B", "a", "A", "_x", "Z", "é", "e\u0301", "É", "10", "9", "🔥", "ß", "ss", "a b", "ab"];
      let n = 0;
      for (const name of names) {
        n++;
        await insertBoth(schema.folders, {
          id: `fld_sort${String(n).padStart(12, "0")}`,
          org_id: org,
          parent_id: null,
          parent_key: "sort",
          name,
          created_at: T0,
          updated_at: T0,
        });
      }
      const order = await both("SELECT name FROM folders WHERE org_id = ? AND parent_key = 'sort' ORDER BY name", org);
      expect(order.pg).toEqual(order.sqlite);
      // A comparison with a column takes the column's collation (a bare parameter only has the database's default).
      const cmp = await both("SELECT name, (name < ?) AS before_b, (name = ?) AS is_lower_b FROM folders WHERE parent_key = 'sort' ORDER BY id", "B", "b");
      expect(cmp.pg).toEqual(cmp.sqlite);
      // A keyset comparison on (created_at, id), as the list queries make.
      const keyset = await both(
        "SELECT name FROM folders WHERE org_id = ? AND (created_at, id) < (?, ?) AND parent_key = 'sort' ORDER BY created_at DESC, id DESC",
        org,
        T0,
        "fld_sort000000000009",
      );
      expect(keyset.pg).toEqual(keyset.sqlite);
      expect(keyset.pg.length).toBe(8);
      // Case and normalization make different names, in both; the same bytes twice is a conflict, in both.
      const dup = { id: "fld_dup0000000000001", org_id: org, parent_id: null, parent_key: "sort", name: "B", created_at: T0, updated_at: T0 };
      expect(() =>
        lite
          .query(
            `INSERT INTO folders (${Object.keys(dup).join(", ")}) VALUES (${Object.keys(dup)
              .map(() => "?")
              .join(", ")})`,
          )
          .run(...Object.values(dup)),
      ).toThrow(/UNIQUE constraint failed/);
      const err = (await sql
        .unsafe(
          `INSERT INTO folders (${Object.keys(dup).join(", ")}) VALUES (${Object.keys(dup)
            .map((_, i) => `$${i + 1}`)
            .join(", ")})`,
          Object.values(dup),
        )
        .catch((e: unknown) => e)) as { code?: string; constraint_name?: string };
      expect(err.code).toBe("23505");
      expect(err.constraint_name).toBe("folders_sibling_name");
    });

    test("top-level names are unique per organization too: their parent_key is '' (a NULL would never collide)", async () => {
      const top = ["fld_top0000000000002", "org_0000000000000001", null, "", "Docs", T0, T0];
      const insert = "INSERT INTO folders (id, org_id, parent_id, parent_key, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)";
      expect(() => lite.query(insert).run(...top)).toThrow(/UNIQUE constraint failed/);
      let i = 0;
      const err = (await sql
        .unsafe(
          insert.replace(/\?/g, () => `$${++i}`),
          top,
        )
        .catch((e: unknown) => e)) as { code?: string };
      expect(err.code).toBe("23505");
    });
  });

  // These connect to the server's own database: they create nothing.
  describe("openPostgres and checkPostgres", () => {
    test("the statement timeout and application name are set on every connection", async () => {
      const h = openPostgres({ url: base!, poolSize: 2, statementTimeoutMs: 150, applicationName: "cc-test" });
      handles.push(h);
      const sql = h.sql;
      const rows = await Promise.all([0, 1, 2, 3].map(() => sql`SELECT current_setting('statement_timeout') AS t, current_setting('application_name') AS a`));
      for (const [r] of rows) expect(r).toEqual({ t: "150ms", a: "cc-test" });
      const err = (await sql`SELECT pg_sleep(30)`.catch((e: unknown) => e)) as { code?: string };
      expect(err.code).toBe("57014"); // query_canceled: the statement timeout, not the 30 s
      expect(await checkPostgres(sql)).toBe(true);
    });

    test("the application name defaults to the URL's, then clientcove", async () => {
      const named = new URL(base!);
      named.searchParams.set("application_name", "from-url");
      const withName = openPostgres({ url: named.toString(), poolSize: 1, statementTimeoutMs: 0 });
      const plain = openPostgres({ url: base!, poolSize: 1, statementTimeoutMs: 0 });
      handles.push(withName, plain);
      expect((await withName.sql`SELECT current_setting('application_name') AS a`)[0]!.a).toBe("from-url");
      expect((await plain.sql`SELECT current_setting('application_name') AS a, current_setting('statement_timeout') AS t`)[0]).toEqual({
        a: "clientcove",
        t: "0",
      });
    });

    test("checkPostgres is false, without throwing, for a closed pool, a refused port and a wrong password", async () => {
      const handle = openPostgres({ url: base!, poolSize: 1, statementTimeoutMs: 0 });
      handles.push(handle);
      expect(await checkPostgres(handle.sql)).toBe(true);
      await handle.close();
      expect(await checkPostgres(handle.sql)).toBe(false);
      const refused = openPostgres({ url: "postgres://u:secret@127.0.0.1:1/db?sslmode=disable", poolSize: 1, statementTimeoutMs: 0 });
      handles.push(refused);
      expect(await checkPostgres(refused.sql)).toBe(false);
      const nobody = new URL(base!);
      nobody.username = "nobody_here";
      nobody.password = "secret";
      const denied = openPostgres({ url: nobody.toString(), poolSize: 1, statementTimeoutMs: 0 });
      handles.push(denied);
      expect(await checkPostgres(denied.sql)).toBe(false);
    });

    test("bad pool options are refused with one line", () => {
      expect(() => openPostgres({ url: base!, poolSize: 0, statementTimeoutMs: 0 })).toThrow("the pool size must be a whole number of at least 1, got 0");
      expect(() => openPostgres({ url: base!, poolSize: 1, statementTimeoutMs: -1 })).toThrow(/^the statement timeout must be a whole number/);
      expect(() => openPostgres({ url: "mysql://x@h/db", poolSize: 1, statementTimeoutMs: 0 })).toThrow(/^expected a postgres:\/\//);
    });
  });
});
