// Migrations: an empty data dir migrates, a second run applies nothing, a newer database is refused untouched.
import { afterAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openDatabase } from "../src/db/client";
import { DB_FILENAME } from "../src/storage/layout";
import { migrate, readSchemaVersion, SCHEMA_VERSION, SchemaError } from "../src/db/migrate";
import { runCli, tempDir } from "./helpers";

const dirs: string[] = [];
function freshDir(): string {
  const d = tempDir("cc-migrate");
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const TABLES = ["api_keys", "events", "orgs", "ticket_counts", "tickets", "users"];

function tables(sqlite: Database): string[] {
  return (sqlite.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
}

function fileHash(path: string): string {
  return new Bun.CryptoHasher("sha256").update(readFileSync(path)).digest("hex");
}

/** A data dir migrated by this version, then marked as written by a newer one. Returns the db path. */
function newerDatabase(): { dir: string; path: string } {
  const dir = freshDir();
  const h = openDatabase(dir);
  migrate(h.sqlite);
  const latest = h.sqlite.query("SELECT MAX(created_at) AS m FROM __drizzle_migrations").get() as { m: number };
  h.sqlite.query("INSERT INTO __drizzle_migrations (hash, created_at) VALUES (?, ?)").run("f".repeat(64), Number(latest.m) + 86_400_000);
  h.close();
  return { dir, path: join(dir, DB_FILENAME) };
}

describe("migrate() in process", () => {
  test("an empty database gets every table and the current schema version", () => {
    const h = openDatabase(freshDir());
    try {
      expect(readSchemaVersion(h.sqlite)).toBe(0);
      const result = migrate(h.sqlite);
      expect(result.applied.length).toBe(SCHEMA_VERSION);
      expect(result.applied[0]).toMatch(/^0000_/);
      expect(result.schemaVersion).toBe(SCHEMA_VERSION);
      for (const t of TABLES) expect(tables(h.sqlite)).toContain(t);
      expect(readSchemaVersion(h.sqlite)).toBe(SCHEMA_VERSION);
    } finally {
      h.close();
    }
  });

  test("a second run applies nothing and changes nothing", () => {
    const dir = freshDir();
    const h = openDatabase(dir);
    migrate(h.sqlite);
    const before = tables(h.sqlite);
    expect(migrate(h.sqlite)).toEqual({ applied: [], schemaVersion: SCHEMA_VERSION });
    expect(tables(h.sqlite)).toEqual(before);
    expect((h.sqlite.query("SELECT COUNT(*) AS n FROM __drizzle_migrations").get() as { n: number }).n).toBe(SCHEMA_VERSION);
    h.close();
  });

  test("the database opens with WAL, foreign keys and a busy timeout", () => {
    const h = openDatabase(freshDir());
    try {
      expect((h.sqlite.query("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode).toBe("wal");
      expect((h.sqlite.query("PRAGMA foreign_keys").get() as { foreign_keys: number }).foreign_keys).toBe(1);
      expect((h.sqlite.query("PRAGMA busy_timeout").get() as { timeout: number }).timeout).toBeGreaterThan(0);
    } finally {
      h.close();
    }
  });

  test("a database written by a newer version throws SchemaError and is left as it was", () => {
    const { dir, path } = newerDatabase();
    const before = fileHash(path);
    const h = openDatabase(dir);
    try {
      expect(() => migrate(h.sqlite)).toThrow(SchemaError);
      expect(() => migrate(h.sqlite)).toThrow(/newer version/);
    } finally {
      h.close();
    }
    expect(fileHash(path)).toBe(before);
  });

  test("a database with a migration this build does not know (not newer) is refused with its own message", () => {
    const dir = freshDir();
    const h = openDatabase(dir);
    migrate(h.sqlite);
    const first = h.sqlite.query("SELECT MIN(created_at) AS m FROM __drizzle_migrations").get() as { m: number };
    h.sqlite.query("INSERT INTO __drizzle_migrations (hash, created_at) VALUES (?, ?)").run("e".repeat(64), Number(first.m) - 1);
    try {
      expect(() => migrate(h.sqlite)).toThrow(SchemaError);
      expect(() => migrate(h.sqlite)).toThrow(/does not know/);
    } finally {
      h.close();
    }
  });

  test("a migration that fails half-way is rolled back whole", () => {
    const dir = freshDir();
    const h = openDatabase(dir);
    // A stray table in the way of the first CREATE TABLE of the migration.
    h.sqlite.exec("CREATE TABLE tickets (x INTEGER)");
    expect(() => migrate(h.sqlite)).toThrow();
    expect(tables(h.sqlite)).toEqual(["tickets"]);
    expect(readSchemaVersion(h.sqlite)).toBe(0);
    h.close();
  });
});

describe("clientcove migrate (a real process)", () => {
  test("an empty data dir is created and migrated; a second run is up to date", () => {
    const dir = join(freshDir(), "nested", "data");
    const first = runCli(["migrate", "--data-dir", dir]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/Applied \d+ migration/);
    expect(existsSync(join(dir, DB_FILENAME))).toBe(true);
    const second = runCli(["migrate", "--data-dir", dir, "--json"]);
    expect(second.code).toBe(0);
    const out = JSON.parse(second.stdout);
    expect(out.applied).toEqual([]);
    expect(out.schema_version).toBe(SCHEMA_VERSION);
    const h = new Database(join(dir, DB_FILENAME), { readonly: true });
    for (const t of TABLES) expect(tables(h)).toContain(t);
    h.close();
  });

  test("--json on an empty dir lists what was applied", () => {
    const r = runCli(["migrate", "--data-dir", freshDir(), "--json"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.applied.length).toBe(SCHEMA_VERSION);
    expect(out.schema_version).toBe(SCHEMA_VERSION);
  });

  test("CLIENTCOVE_DATA_DIR is honoured", () => {
    const dir = freshDir();
    const r = runCli(["migrate"], { env: { CLIENTCOVE_DATA_DIR: dir } });
    expect(r.code).toBe(0);
    expect(existsSync(join(dir, DB_FILENAME))).toBe(true);
  });

  test("a newer database: a clear one-line message, exit 1, and the file unchanged", () => {
    const { dir, path } = newerDatabase();
    const before = fileHash(path);
    for (const args of [["migrate"], ["serve", "--port", "0"], ["orgs", "list"], ["keys", "list", "--org", "org_x"]]) {
      const r = runCli([...args, "--data-dir", dir]);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(1);
      const lines = r.stderr.trim().split("\n");
      expect(lines.length).toBe(1);
      expect(lines[0]).toMatch(/newer version of Client Cove/);
      expect(lines[0]).toMatch(/Upgrade/);
      expect(r.stderr).not.toMatch(/\bat \S+:\d+/); // no stack trace
      expect(r.stdout).not.toContain('"listening"');
      expect(fileHash(path)).toBe(before);
      expect(existsSync(`${path}-wal`) ? readFileSync(`${path}-wal`).length : 0).toBe(0);
    }
  });

  test("a file that is not a database is refused without being overwritten", () => {
    const dir = freshDir();
    const path = join(dir, DB_FILENAME);
    writeFileSync(path, "this is not sqlite ".repeat(100));
    const before = fileHash(path);
    const r = runCli(["migrate", "--data-dir", dir]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^clientcove: .*not a database/)]);
    expect(fileHash(path)).toBe(before);
  });
});
