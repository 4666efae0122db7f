// Keeps the two passes of `npm test` honest: every test file that builds the app on a test env runs on PostgreSQL too, unless it is listed SQLite-only with its reason (scripts/test-postgres.ts).
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ENV_FACTORIES, FIXTURE_FACTORIES, factoriesUsed, postgresPassFiles, SQLITE_ONLY, testFiles } from "../scripts/test-postgres";
import { numberedPlaceholders, REPO_ROOT } from "./helpers";

const read = (f: string) => readFileSync(join(REPO_ROOT, f), "utf8");

describe("the PostgreSQL pass covers the HTTP suite", () => {
  test("every test file that uses a test env is in the PostgreSQL pass or SQLite-only with a one-line reason", () => {
    const pass = new Set(postgresPassFiles());
    const users = testFiles().filter((f) => factoriesUsed(f).length > 0);
    expect(users.length).toBeGreaterThan(40);
    const unaccounted = users.filter((f) => !pass.has(f) && !(f in SQLITE_ONLY));
    expect(unaccounted).toEqual([]);
    for (const [file, reason] of Object.entries(SQLITE_ONLY)) {
      expect(existsSync(join(REPO_ROOT, file)), `${file} (SQLITE_ONLY) does not exist`).toBe(true);
      expect(pass.has(file)).toBe(false);
      expect(reason.trim().length, `${file}: give the reason`).toBeGreaterThan(10);
      expect(reason).not.toContain("\n");
    }
  });

  test("a file that builds only SQLite envs is listed SQLite-only (else the PostgreSQL pass would run it on SQLite again)", () => {
    const portable = ENV_FACTORIES.filter((f) => f !== "createSqliteTestEnv");
    const sqliteOnly = testFiles().filter((f) => {
      const used = factoriesUsed(f);
      return used.includes("createSqliteTestEnv") && !used.some((u) => (portable as readonly string[]).includes(u));
    });
    expect(sqliteOnly.filter((f) => !(f in SQLITE_ONLY))).toEqual([]);
  });

  test("every fixture module that calls createTestEnv has its factory in FIXTURE_FACTORIES and ENV_FACTORIES", () => {
    const fixtures = readdirSync(join(REPO_ROOT, "test"))
      .filter((n) => n.endsWith(".ts") && !n.endsWith(".test.ts") && n !== "helpers.ts")
      .map((n) => `test/${n}`)
      .filter((f) => /\bcreateTestEnv\(/.test(read(f)));
    expect(fixtures.sort()).toEqual(Object.keys(FIXTURE_FACTORIES).sort());
    for (const [file, factory] of Object.entries(FIXTURE_FACTORIES)) {
      expect(new RegExp(`export (async )?function ${factory}\\b`).test(read(file)), `${file} exports ${factory}`).toBe(true);
      expect(ENV_FACTORIES as readonly string[]).toContain(factory);
    }
  });

  test("SQLite-only tests inside files of the PostgreSQL pass say so: every createSqliteTestEnv there is behind ON_POSTGRES", () => {
    for (const file of postgresPassFiles()) {
      const text = read(file);
      if (!/\bcreateSqliteTestEnv\(/.test(text)) continue;
      expect(text, `${file} builds a SQLite env without skipping it on PostgreSQL`).toMatch(/skipIf\(ON_POSTGRES\)/);
    }
  });
});

describe("TestDb placeholders", () => {
  test("? becomes $1, $2, … in order, ?N becomes $N, and question marks inside quotes stay", () => {
    expect(numberedPlaceholders("SELECT * FROM t WHERE a = ? AND b = ?")).toBe("SELECT * FROM t WHERE a = $1 AND b = $2");
    expect(numberedPlaceholders("SELECT ?1, ?2, ?1")).toBe("SELECT $1, $2, $1");
    expect(numberedPlaceholders(`SELECT '?', "a?b", ? FROM t`)).toBe(`SELECT '?', "a?b", $1 FROM t`);
  });
});
