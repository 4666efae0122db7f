// The PostgreSQL pass of `npm test`: every test file that builds the app on a test env runs again with CLIENTCOVE_TEST_ENGINE=postgres, on one server started here; the SQLite-only files are listed below with the reason.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");

/**
 * Test files that build their app on SQLite only, each with the one-line reason: they test the SQLite engine or a
 * data dir's file by nature. Every other test file that uses a test env (see ENV_FACTORIES) is in the PostgreSQL pass.
 * Files that run on PostgreSQL but have a few SQLite-specific tests mark those with `test.skipIf(ON_POSTGRES)`.
 */
export const SQLITE_ONLY: Readonly<Record<string, string>> = {
  "test/crash-durability.test.ts": "kills servers mid-write and checks what the data dir's SQLite file kept (WAL, fsync, triggers)",
  "test/docs-browser.test.ts": "the /docs page in a headless browser: it reads no store",
  "test/error-log.test.ts": "5xx log lines need a table dropped behind the running app (PRAGMA foreign_keys = OFF)",
  "test/files-s3.test.ts": "the S3 storage suite (a Swift server): the database engine is not what it tests",
  "test/ops-backup.test.ts": "backup and restore of a data dir's SQLite file",
  "test/ops-readiness.test.ts": "readiness of the SQLite file: its migrations table edited, its connection closed, a read-only data dir",
  "test/ops-status.test.ts": "status of a data dir, seeded with raw SQLite rows (ops-fixtures)",
  "test/ops-verify.test.ts": "verify of a data dir's SQLite database against its files, rows edited with foreign keys off",
  "test/schema-rows.test.ts": "the SQLite tables' columns (PRAGMA table_info) against the drizzle schema",
  "test/webhooks-bookkeeping.test.ts": "the dispatcher's writes through SQLite's group-commit writer, read from a second connection to the file, TEMP triggers",
};

/** The calls that build a test env: test/helpers.ts's, and the fixtures' that call createTestEnv (FIXTURE_FACTORIES). */
export const ENV_FACTORIES = ["createTestEnv", "createSqliteTestEnv", "webhookEnv", "describeRouteMatrix"] as const;

/** Fixture modules that call createTestEnv, and the factory each exports (a test of these lists keeps them complete). */
export const FIXTURE_FACTORIES: Readonly<Record<string, string>> = {
  "test/webhooks-fixtures.ts": "webhookEnv",
  "test/route-matrix.ts": "describeRouteMatrix",
};

/** Every `test/*.test.ts`, as `test/<name>` paths, sorted. */
export function testFiles(): string[] {
  return readdirSync(join(ROOT, "test"))
    .filter((n) => n.endsWith(".test.ts"))
    .sort()
    .map((n) => `test/${n}`);
}

/** The env factories a file calls (by name, from its text). */
export function factoriesUsed(file: string): string[] {
  const text = readFileSync(join(ROOT, file), "utf8");
  return ENV_FACTORIES.filter((f) => new RegExp(`\\b${f}\\(`).test(text));
}

/** The test files of the PostgreSQL pass: those that use a test env, minus SQLITE_ONLY. */
export function postgresPassFiles(): string[] {
  return testFiles().filter((f) => factoriesUsed(f).length > 0 && !(f in SQLITE_ONLY));
}

if (import.meta.main) {
  const say = (line: string) => process.stdout.write(`${line}\n`);
  if (process.env.CLIENTCOVE_TEST_POSTGRES === "skip") {
    say("PostgreSQL pass skipped: CLIENTCOVE_TEST_POSTGRES=skip (the HTTP suite ran on SQLite only)");
    process.exit(0);
  }
  // One server for the whole pass (or CLIENTCOVE_TEST_DATABASE_URL); the child test process creates its databases on it.
  const { postgresUrl } = await import("../test/services/postgres");
  const url = await postgresUrl();
  if (!url) {
    say("PostgreSQL pass skipped: no PostgreSQL server for tests (reason above; the HTTP suite ran on SQLite only)");
    process.exit(0);
  }
  const files = postgresPassFiles();
  say(`PostgreSQL pass: ${files.length} test files again with CLIENTCOVE_TEST_ENGINE=postgres`);
  const started = performance.now();
  const child = Bun.spawn([process.execPath, "test", "--timeout", "60000", ...files.map((f) => `./${f}`)], {
    cwd: ROOT,
    env: { ...process.env, CLIENTCOVE_TEST_ENGINE: "postgres", CLIENTCOVE_TEST_DATABASE_URL: url },
    stdio: ["inherit", "inherit", "inherit"],
  });
  const code = await child.exited;
  say(`PostgreSQL pass ${code === 0 ? "passed" : `failed (exit ${code})`} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  process.exit(code);
}
