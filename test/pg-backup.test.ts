// Backup and restore across engines through the real CLI and server (child processes, real PostgreSQL, real Swift bucket): SQLite backup → restore into PostgreSQL → served alike; PostgreSQL + S3 backup → restore into a data dir → served alike; refusals and undo.
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { firstNonEmptyTable } from "../src/ops/copy-tables";
import { expectOneLine, runCli } from "./helpers";
import { answers, bucketPrefix, keysIn, seedInstall, serveOn, moveTestState, workDir, type Seeded, type Served } from "./move-fixtures";
import { postgresUrl } from "./services/postgres";
import { s3Server } from "./services/s3";
import { startReceiver } from "./webhooks-fixtures";

setDefaultTimeout(180_000);
const base = await postgresUrl();
const s3 = base ? await s3Server() : null;
if (!base || !s3) process.stderr.write(`test/pg-backup.test.ts: skipped (no ${base ? "S3-compatible" : "PostgreSQL"} server for tests; see the line above)\n`);
const { bucket: BUCKET, KEY, dirs, servers, receivers, database } = await moveTestState("cc-pgbk", s3);

async function started(dir: string, extra: string[] = [], env: Record<string, string | undefined> = {}): Promise<Served> {
  const s = await serveOn(dir, extra, env);
  servers.push(s);
  return s;
}

describe.skipIf(!base || !s3)("backup and restore between SQLite and PostgreSQL", () => {
  test("an SQLite backup restored into PostgreSQL serves the same answers; a second restore into it is refused; a failed one leaves nothing", async () => {
    const receiver = startReceiver();
    receivers.push(receiver);
    const work = workDir("cc-pgbk-a", dirs);
    const src = await started(join(work, "src"));
    const key = (await src.waitForStderr(KEY))[1]!;
    const seeded: Seeded = await seedInstall(src.url, key, receiver.url);
    const before = await answers(src.url, key, seeded);
    const archive = join(work, "backup.tar.gz");
    const backup = await runCli(["backup", "--data-dir", src.dir, "--out", archive]);
    expect(backup.code, backup.stderr).toBe(0);
    expect(await src.stop()).toBe(0);

    const target = await database();
    const restored = join(work, "restored");
    const r = await runCli(["restore", archive, "--data-dir", restored, "--database-url", target.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`into PostgreSQL at ${target.url}`);
    // The data dir keeps the files only: no SQLite database, no key file, nothing staged left in tmp/.
    expect(readdirSync(restored).sort()).toEqual(["files"]);
    const [row] = await target.sql`SELECT value FROM settings WHERE name = 'download_url_key'`;
    expect(row!.value).toBe(readFileSync(join(src.dir, "download-url.key"), "utf8").trim());

    const pg = await started(restored, ["--database-url", target.url]);
    expect(pg.stderr()).not.toMatch(KEY);
    expect(await answers(pg.url, key, seeded)).toEqual(before);
    expect(await pg.stop()).toBe(0);

    // The database has rows now: refused, one line, exit 2; the new data dir is left as it was (absent).
    const again = await runCli(["restore", archive, "--data-dir", join(work, "again"), "--database-url", target.url]);
    expectOneLine(again, 2, /^clientcove: refusing to restore into the database at postgres:\/\/.*: it is not empty \(table orgs has rows\)/);
    expect(existsSync(join(work, "again"))).toBe(false);

    // A truncated archive into PostgreSQL + S3: the objects uploaded before the damage are removed, no row, no data dir.
    const truncated = join(work, "truncated.tar.gz");
    const whole = readFileSync(archive);
    writeFileSync(truncated, whole.subarray(0, Math.floor(whole.length * 0.9)));
    const empty = await database();
    const bucket = bucketPrefix(s3!, BUCKET, "undo");
    const failed = await runCli(["restore", truncated, "--data-dir", join(work, "failed"), "--database-url", empty.url, "--storage-url", bucket.url], {
      env: bucket.env,
    });
    expectOneLine(failed, 1, /^clientcove: backup archive .* is corrupt or not a Client Cove backup: .*; nothing was restored$/);
    expect(await keysIn(bucket.view)).toEqual([]);
    expect(await firstNonEmptyTable({ kind: "postgres", sql: empty.sql })).toBeNull();
    expect(existsSync(join(work, "failed"))).toBe(false);
  });

  test("a backup of PostgreSQL + S3 restores into an empty data dir (SQLite + files) that serves the same answers, and back into PostgreSQL + S3", async () => {
    const receiver = startReceiver();
    receivers.push(receiver);
    const work = workDir("cc-pgbk-b", dirs);
    const db = await database();
    const bucket = bucketPrefix(s3!, BUCKET, "live");
    const live = await started(join(work, "live"), ["--database-url", db.url, "--storage-url", bucket.url], bucket.env);
    const key = (await live.waitForStderr(KEY))[1]!;
    const seeded = await seedInstall(live.url, key, receiver.url);
    const before = await answers(live.url, key, seeded);

    // Taken while the server runs (the archive is the same format as from SQLite).
    const archive = join(work, "pg.tar.gz");
    const backup = await runCli(["backup", "--out", archive, "--data-dir", live.dir, "--database-url", db.url, "--storage-url", bucket.url, "--json"], {
      env: bucket.env,
    });
    expect(backup.code, backup.stderr).toBe(0);
    const manifest = JSON.parse(backup.stdout).manifest;
    expect(manifest).toMatchObject({ format: "clientcove-backup", warnings: [], counts: { tickets: 8, folders: 2, files: 4, webhooks: 1 } });
    const names = Bun.spawnSync(["tar", "-tzf", archive]).stdout.toString().trim().split("\n");
    expect(names).toContain("clientcove.db");
    expect(names).toContain("download-url.key");
    expect(names.filter((n) => n.startsWith("files/"))).toHaveLength(4);
    expect(await live.stop()).toBe(0);

    const restored = join(work, "restored");
    const r = await runCli(["restore", archive, "--data-dir", restored]);
    expect(r.code, r.stderr).toBe(0);
    const [row] = await db.sql`SELECT value FROM settings WHERE name = 'download_url_key'`;
    expect(readFileSync(join(restored, "download-url.key"), "utf8").trim()).toBe(row!.value);
    const verify = await runCli(["verify", "--data-dir", restored]);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    const lite = await started(restored);
    expect(lite.stderr()).not.toMatch(KEY);
    expect(await answers(lite.url, key, seeded)).toEqual(before);
    expect(await lite.stop()).toBe(0);

    // And into another PostgreSQL database and bucket: the same answers again.
    const db2 = await database();
    const bucket2 = bucketPrefix(s3!, BUCKET, "again");
    const back = await runCli(["restore", archive, "--data-dir", join(work, "back"), "--database-url", db2.url, "--storage-url", bucket2.url], {
      env: bucket2.env,
    });
    expect(back.code, back.stderr).toBe(0);
    expect(readdirSync(join(work, "back"))).toEqual(["files"]);
    const pg2 = await started(join(work, "back"), ["--database-url", db2.url, "--storage-url", bucket2.url], bucket2.env);
    expect(await answers(pg2.url, key, seeded)).toEqual(before);
    expect(await pg2.stop()).toBe(0);
  });
});
