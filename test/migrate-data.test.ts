// `clientcove migrate-data` end to end (real child processes, a real PostgreSQL, a real Swift bucket): refusals, a run killed mid-files and mid-rows then completed, and the move test: an embedded install served again from PostgreSQL + S3 with identical API answers.
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { firstNonEmptyTable } from "../src/ops/copy-tables";
import { BUN, cleanEnv, expectOneLine, REPO_ROOT, runCli } from "./helpers";
import { answers, bucketPrefix, keysIn, NO_AMBIENT_CREDENTIALS, seedInstall, serveOn, moveTestState, workDir, type Seeded, type Served } from "./move-fixtures";
import { postgresUrl } from "./services/postgres";
import { s3Server } from "./services/s3";
import { startReceiver } from "./webhooks-fixtures";

// Child processes on a real PostgreSQL and a Swift that may take a while to start on a loaded machine.
setDefaultTimeout(180_000);
const base = await postgresUrl();
const s3 = base ? await s3Server() : null;
if (!base || !s3)
  process.stderr.write(`test/migrate-data.test.ts: skipped (no ${base ? "S3-compatible" : "PostgreSQL"} server for tests; see the line above)\n`);
const { bucket: BUCKET, KEY, dirs, servers, receivers, database } = await moveTestState("cc-move", s3);

/** `migrate-data` as a child process that may be killed: its exit code and output once it ends, or SIGKILLed when `until` shows on stderr. */
async function migrateData(args: string[], env: Record<string, string | undefined>, until?: RegExp): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([BUN, join(REPO_ROOT, "src", "main.ts"), "migrate-data", ...args], {
    cwd: REPO_ROOT,
    env: cleanEnv(env),
    stdout: "pipe",
    stderr: "pipe",
  });
  let stderr = "";
  const errDone = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr) {
      stderr += decoder.decode(chunk, { stream: true });
      if (until?.test(stderr)) proc.kill("SIGKILL");
    }
  })();
  const [stdout, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited, errDone]);
  return { code, stdout, stderr };
}

describe.skipIf(!base || !s3)("migrate-data", () => {
  let install: Served;
  let key: string;
  let seeded: Seeded;
  let before: Record<string, unknown>;

  test("the move: an embedded install (tickets, files, folders, webhooks, deliveries) → migrate-data → served from PostgreSQL + S3 with identical answers", async () => {
    const receiver = startReceiver();
    receivers.push(receiver);
    const dir = workDir("cc-move-src", dirs);
    install = await serveOn(dir);
    servers.push(install);
    key = (await install.waitForStderr(KEY))[1]!;
    seeded = await seedInstall(install.url, key, receiver.url);
    before = await answers(install.url, key, seeded);

    const target = await database();
    const bucket = bucketPrefix(s3!, BUCKET, "move");
    const args = ["--data-dir", dir, "--to-database", target.url, "--to-storage", bucket.url];

    // Refused while the server runs on the data dir (exit 2, one line), nothing written.
    expectOneLine(
      await runCli(["migrate-data", ...args], { env: bucket.env }),
      2,
      /^clientcove: data dir .* is in use by a running Client Cove server \(pid \d+\); stop it first/,
    );
    expect(await keysIn(bucket.view)).toEqual([]);
    expect(await install.stop("SIGTERM")).toBe(0);

    // Killed after 2 of the 4 files: 2 objects in the bucket, no row in the database.
    const killedInFiles = await migrateData(args, { ...bucket.env, CLIENTCOVE_TEST_MIGRATE_DATA_PAUSE: "files:2" }, /paused after 2 files/);
    expect(killedInFiles.code, killedInFiles.stderr).toBe(137);
    expect(await keysIn(bucket.view)).toHaveLength(2);
    expect(await firstNonEmptyTable({ kind: "postgres", sql: target.sql })).toBeNull();
    // Killed inside the row transaction, after some tables: still no row (the transaction never committed).
    const killedInRows = await migrateData(args, { ...bucket.env, CLIENTCOVE_TEST_MIGRATE_DATA_PAUSE: "rows:files" }, /paused in the transaction after files/);
    expect(killedInRows.code, killedInRows.stderr).toBe(137);
    expect(killedInRows.stderr).toContain("rows: tickets 8");
    expect(await firstNonEmptyTable({ kind: "postgres", sql: target.sql })).toBeNull();

    // Run again: completes, verifies, exit 0. The files already there are kept (none copied twice).
    const done = await runCli(["migrate-data", ...args, "--json"], { env: bucket.env });
    expect(done.code, done.stderr).toBe(0);
    const summary = JSON.parse(done.stdout);
    expect(summary).toMatchObject({ files: 4, files_copied: 0, rows_already_copied: false, problems: [], storage: `s3://${BUCKET}/${bucket.prefix}` });
    expect(summary.tables).toMatchObject({ tickets: 8, folders: 2, files: 4, webhooks: 1 });
    expect(summary.tables.webhook_deliveries).toBeGreaterThan(0);
    expect(summary.database).toBe(target.url);
    expect((await keysIn(bucket.view)).map((k) => k.split("/")[1]).sort()).toEqual(seeded.files.map((f) => f.id).sort());

    // Run once more: the rows are this install's earlier copy (same key, same counts): verified again, exit 0.
    const again = await runCli(["migrate-data", ...args], { env: bucket.env });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain("(rows by an earlier run)");
    expect(again.stdout).toContain("Verified");

    // Served from PostgreSQL + S3 (a new data dir): every answer equal, links signed before the move work.
    const moved = await serveOn(workDir("cc-move-dst", dirs), ["--database-url", target.url, "--storage-url", bucket.url], bucket.env);
    servers.push(moved);
    expect(moved.stderr()).not.toMatch(KEY);
    expect(await answers(moved.url, key, seeded)).toEqual(before);
    // The signing key moved: the one in the database is the data dir's file.
    const [row] = await target.sql`SELECT value FROM settings WHERE name = 'download_url_key'`;
    expect(row!.value).toBe(readFileSync(join(dir, "download-url.key"), "utf8").trim());
    expect(await moved.stop()).toBe(0);
  });

  test("refusals, one line each and exit 2: a bad URL, missing bucket credentials, a database URL configured, a non-empty target", async () => {
    const dir = install.dir;
    expectOneLine(
      await runCli(["migrate-data", "--data-dir", dir, "--to-database", "mysql://u:secret@h/db"]),
      2,
      /^clientcove: --to-database: expected a postgres:\/\//,
    );
    const bad = await runCli(["migrate-data", "--data-dir", dir, "--to-database", "postgres://u:hunter2@h/db", "--to-storage", "s3://bkt?regin=x"]);
    expectOneLine(bad, 2, /^clientcove: --to-storage: invalid storage URL: unknown parameter "regin"/);
    expect(bad.stderr).not.toContain("hunter2");
    const target = await database();
    expectOneLine(
      await runCli(["migrate-data", "--data-dir", dir, "--to-database", target.url, "--to-storage", bucketPrefix(s3!, BUCKET, "x").url], {
        env: NO_AMBIENT_CREDENTIALS,
      }),
      2,
      /^clientcove: --to-storage is set but the S3 access key id and secret access key are missing/,
    );
    expectOneLine(
      await runCli(["migrate-data", "--data-dir", dir, "--to-database", target.url], { env: { CLIENTCOVE_DATABASE_URL: "postgres://u:hunter2@h/db" } }),
      2,
      /^clientcove: migrate-data copies the data dir's SQLite database, but a database URL is configured \(postgres:\/\/u:\*{8}@h\/db\)/,
    );
    // Another install's rows in the target: refused (that database already has an organization from its first start).
    const other = await serveOn(workDir("cc-move-other", dirs), ["--database-url", target.url]);
    servers.push(other);
    await other.waitForStderr(KEY);
    expect(await other.stop()).toBe(0);
    const occupied = await runCli(["migrate-data", "--data-dir", dir, "--to-database", target.url]);
    expectOneLine(occupied, 2, /^clientcove: refusing to migrate into the database at postgres:\/\/.* it is not empty \(table orgs has rows\)/);
    // An unreachable database: one line, the password masked.
    const down = await runCli(["migrate-data", "--data-dir", dir, "--to-database", "postgres://u:hunter2@127.0.0.1:9/db?sslmode=disable"]);
    expectOneLine(down, 2, /^clientcove: cannot connect to PostgreSQL at postgres:\/\/u:\*{8}@127\.0\.0\.1:9\/db/);
  });

  test("without --to-storage the files stay in the data dir: the rows move, the install serves from PostgreSQL on the same data dir", async () => {
    const target = await database();
    const r = await runCli(["migrate-data", "--data-dir", install.dir, "--to-database", target.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`files in ${install.dir}/files`);
    expect(r.stdout).toContain("Verified");
    const s = await serveOn(install.dir, ["--database-url", target.url]);
    servers.push(s);
    expect(await answers(s.url, key, seeded)).toEqual(before);
    expect(await s.stop()).toBe(0);
  });
});
