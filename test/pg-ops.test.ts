// `status`, `verify [--repair]` and the /metrics data gauges on PostgreSQL (child processes, a real server, a real Swift bucket): exact counts, damaged and orphaned bytes found, old leftovers removed, young ones kept.
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { existsSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Sql } from "postgres";
import { openPostgres } from "../src/db/postgres/client";
import { POSTGRES_SCHEMA_VERSION } from "../src/db/postgres/migrate";
import { manualClock } from "../src/lib/clock";
import { existingPostgresSchema } from "../src/ops/existing-postgres";
import { REPAIR_MIN_AGE_MS, verifyPostgres } from "../src/ops/verify";
import { createS3Storage, type S3Storage } from "../src/storage/s3";
import { freePort, startServerProcess, tempDir, type ServerProcess } from "./helpers";
import { parseMetrics, runCli } from "./ops-fixtures";
import { freshDatabase, postgresUrl } from "./services/postgres";
import { s3Server, signedRequest } from "./services/s3";
import { waitFor } from "./webhooks-fixtures";

// Child processes on a real PostgreSQL server and a real Swift: room for a loaded machine.
setDefaultTimeout(120_000);

const base = await postgresUrl();
if (!base) process.stderr.write("test/pg-ops.test.ts: skipped (no PostgreSQL server; see the line above)\n");
const s3 = base ? await s3Server() : null;
const BUCKET = `cc-ops-${randomBytes(4).toString("hex")}`;
if (s3) await s3.createBucket(BUCKET);
else if (base) process.stderr.write("test/pg-ops.test.ts: the PostgreSQL + S3 verify tests are skipped (no S3-compatible server; see the line above)\n");

const SECRET = /cc_[0-9A-Za-z]{32,}/;
const PASSWORD = "pw-not-to-be-printed";
const dirs: string[] = [];
const servers: ServerProcess[] = [];
const pools: Sql[] = [];
const drops: (() => Promise<void>)[] = [];

afterAll(async () => {
  for (const s of servers) await s.stop("SIGKILL").catch(() => {});
  for (const p of pools) await p.end({ timeout: 5 });
  for (const drop of drops) await drop().catch(() => {});
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}, 60_000);

/** A fresh database, its URL with a password (the test server trusts local connections, so any password works). */
async function database(): Promise<{ url: string; masked: string; sql: Sql }> {
  const db = await freshDatabase();
  drops.push(db.drop);
  const url = new URL(db.url);
  url.password = PASSWORD;
  const sql = openPostgres({ url: db.url, poolSize: 2, statementTimeoutMs: 20_000 }).sql;
  pools.push(sql);
  return { url: url.toString(), masked: url.toString().replace(PASSWORD, "********"), sql };
}

function freshDir(): string {
  const d = tempDir("cc-pg-ops");
  dirs.push(d);
  return d;
}

function storageEnv(prefix: string): Record<string, string> {
  return {
    CLIENTCOVE_STORAGE_URL: `s3://${BUCKET}/${prefix}?endpoint=${s3!.endpoint}&region=${s3!.region}`,
    CLIENTCOVE_S3_ACCESS_KEY_ID: s3!.accessKeyId,
    CLIENTCOVE_S3_SECRET_ACCESS_KEY: s3!.secretAccessKey,
  };
}

async function serve(env: Record<string, string>, extra: string[] = []): Promise<ServerProcess & { key: string }> {
  const s = await startServerProcess(["--host", "127.0.0.1", "--port", "0", "--rate-limit-per-minute", "0", ...extra], { env });
  servers.push(s);
  const key = (await s.waitForStderr(SECRET))[0];
  return Object.assign(s, { key });
}

async function api(s: { url: string; key: string }, method: string, path: string, json?: unknown): Promise<any> {
  const res = await fetch(`${s.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${s.key}`, ...(json === undefined ? {} : { "content-type": "application/json" }) },
    body: json === undefined ? undefined : JSON.stringify(json),
  });
  const body = await res.json();
  expect(res.status, JSON.stringify(body)).toBeLessThan(300);
  return body;
}

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

/** Uploads through the API; the row's organization is read from the database (the file JSON does not carry it). */
async function upload(s: { url: string; key: string }, sql: Sql, size: number, seed: number): Promise<{ id: string; org_id: string }> {
  const fd = new FormData();
  fd.append("file", new Blob([bytes(size, seed)]), `f${seed}.bin`);
  const res = await fetch(`${s.url}/v1/files`, { method: "POST", headers: { authorization: `Bearer ${s.key}` }, body: fd });
  const body = (await res.json()) as any;
  expect(res.status, JSON.stringify(body)).toBe(201);
  const [row] = await sql`SELECT org_id FROM files WHERE id = ${body.id}`;
  return { id: body.id, org_id: String(row!.org_id) };
}

/** Webhook deliveries no dispatcher touches: their endpoint is disabled and none is due. */
async function seedDeliveries(sql: Sql, orgId: string, statuses: string[]): Promise<void> {
  const now = Date.now();
  const hook = `wh_${randomBytes(8).toString("hex")}`;
  await sql.unsafe(
    "INSERT INTO webhooks (id, org_id, url, events, secret, active, created_at, updated_at) VALUES ($1, $2, 'https://example.com/hook', '[\"*\"]', 'whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3Q=', 0, $3, $3)",
    [hook, orgId, now],
  );
  for (const status of statuses)
    await sql.unsafe(
      "INSERT INTO webhook_deliveries (id, org_id, webhook_id, event_id, event_type, payload, status, next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, $4, 'ticket.created', '{}', $5, $6, $7, $7)",
      [
        `dlv_${randomBytes(8).toString("hex")}`,
        orgId,
        hook,
        `evt_${randomBytes(8).toString("hex")}`,
        status,
        status === "pending" ? now + 365 * 86_400_000 : null,
        now,
      ],
    );
}

describe.skipIf(!base)("status and metrics on PostgreSQL", () => {
  test("status (JSON and text) and the /metrics data gauges give exact counts after known writes; the password is masked", async () => {
    const db = await database();
    const dir = freshDir();
    const env = { CLIENTCOVE_DATABASE_URL: db.url, CLIENTCOVE_DATA_DIR: dir, CLIENTCOVE_METRICS: "true" };
    const s = await serve(env);
    for (const subject of ["a", "b", "c"]) await api(s, "POST", "/v1/tickets", { subject });
    const f1 = await upload(s, db.sql, 1000, 1);
    await upload(s, db.sql, 2500, 2);
    await seedDeliveries(db.sql, f1.org_id, ["pending", "pending", "failed", "succeeded"]);
    // The dispatcher fans every event out (to no endpoint here); once it has, the outbox gauge is exactly 0.
    await waitFor(async () => Number((await db.sql`SELECT COUNT(*) AS n FROM events WHERE dispatched_at IS NULL`)[0]!.n) === 0, "events dispatched", 20_000);

    const r = await runCli(["status", "--json"], env);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const status = JSON.parse(r.stdout);
    expect(status).toMatchObject({
      engine: "postgres",
      database: db.masked,
      schema_version: POSTGRES_SCHEMA_VERSION,
      executable_schema_version: POSTGRES_SCHEMA_VERSION,
      counts: { orgs: 1, users: 1, api_keys: 1, tickets: 3, folders: 0, files: 2, webhooks: 1, webhook_deliveries: 4 },
      stored_bytes: 3500,
      deliveries: { pending: 2, failed: 1, succeeded: 1, cancelled: 0 },
    });
    // pg_database_size: a fresh database of a few tables is several MiB on disk.
    const [{ size }] = await db.sql`SELECT pg_database_size(current_database()) AS size`;
    expect(status.database_bytes).toBeGreaterThan(1024 * 1024);
    expect(Math.abs(status.database_bytes - Number(size))).toBeLessThan(1024 * 1024);
    expect(r.stdout).not.toContain(PASSWORD);

    const text = await runCli(["status"], env);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`Database:        ${db.masked} (`);
    expect(text.stdout).toContain("Tickets:         3");
    expect(text.stdout).toContain("Files:           2 (3.42 KiB stored)");
    expect(text.stdout).toContain("Deliveries:      2 pending, 1 failed, 1 succeeded, 0 cancelled");
    expect(text.stdout).not.toContain(PASSWORD);

    const m = parseMetrics(await (await fetch(`${s.url}/metrics`)).text());
    expect(m.get('clientcove_webhook_deliveries{status="pending"}')).toBe(2);
    expect(m.get('clientcove_webhook_deliveries{status="failed"}')).toBe(1);
    expect(m.get('clientcove_webhook_deliveries{status="succeeded"}')).toBe(1);
    expect(m.get('clientcove_webhook_deliveries{status="cancelled"}')).toBe(0);
    expect(m.get("clientcove_webhook_deliveries_pending")).toBe(2);
    expect(m.get("clientcove_outbox_undispatched_events")).toBe(0);
    expect(m.get("clientcove_stored_files")).toBe(2);
    expect(m.get("clientcove_stored_bytes")).toBe(3500);
    expect(m.get("clientcove_uploaded_bytes_total")).toBe(3500);
    expect(m.get("clientcove_database_size_bytes")).toBeGreaterThan(1024 * 1024);

    // They move with the data: one more file, one delivery cancelled.
    await upload(s, db.sql, 500, 3);
    await db.sql`UPDATE webhook_deliveries SET status = 'cancelled' WHERE id = (SELECT id FROM webhook_deliveries WHERE status = 'failed')`;
    const after = parseMetrics(await (await fetch(`${s.url}/metrics`)).text());
    expect(after.get("clientcove_stored_files")).toBe(3);
    expect(after.get("clientcove_stored_bytes")).toBe(4000);
    expect(after.get('clientcove_webhook_deliveries{status="failed"}')).toBe(0);
    expect(after.get('clientcove_webhook_deliveries{status="cancelled"}')).toBe(1);
    expect(await s.stop()).toBe(0);
  });

  test("an unreachable database is one line, exit 2, password masked; a database Client Cove never migrated is exit 1 and stays unmigrated", async () => {
    const down = `postgres://cc:${PASSWORD}@127.0.0.1:${freePort()}/cc`;
    for (const command of ["status", "verify"]) {
      const r = await runCli([command, "--database-url", down, "--data-dir", freshDir()]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^clientcove: cannot connect to PostgreSQL at postgres:\/\/cc:\*{8}@127\.0\.0\.1:\d+\/cc: connection refused/);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).not.toContain(PASSWORD);
    }
    const db = await database();
    for (const command of ["status", "verify"]) {
      const r = await runCli([command, "--database-url", db.url, "--data-dir", freshDir()]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        `clientcove: the database at ${db.masked} has never been migrated by Client Cove; run \`clientcove migrate\` with its URL or start the server once\n`,
      );
    }
    expect((await db.sql`SELECT to_regclass('clientcove_migrations') AS t`)[0]!.t).toBeNull();
  });
});

describe.skipIf(!base)("verify on PostgreSQL with files on disk", () => {
  test("a missing file, broken ticket counts and a row written past the foreign keys are reported (exit 1); --repair removes an old orphan, keeps a young one", async () => {
    const db = await database();
    const dir = freshDir();
    const env = { CLIENTCOVE_DATABASE_URL: db.url, CLIENTCOVE_DATA_DIR: dir };
    const s = await serve(env);
    await api(s, "POST", "/v1/tickets", { subject: "x", priority: "high" });
    const kept = await upload(s, db.sql, 1200, 1);
    const gone = await upload(s, db.sql, 800, 2);
    expect(await s.stop()).toBe(0);

    const healthy = await runCli(["verify"], env);
    expect(healthy.stdout).toContain(`Database: ok (${db.masked}, schema version ${POSTGRES_SCHEMA_VERSION})`);
    expect(healthy.stdout).toContain("Files: 2 checked (1.95 KiB, sha256 verified)");
    expect(healthy.stdout.trim().split("\n").at(-1)).toBe("OK");
    expect(healthy.code).toBe(0);

    rmSync(join(dir, "files", gone.org_id, gone.id));
    await db.sql`UPDATE ticket_counts SET count = count + 1 WHERE status = 'open' AND priority = 'high'`;
    // What a bulk load with triggers off could leave: PostgreSQL never checked this row's organization.
    await db.sql.begin(async (tx) => {
      await tx`SET LOCAL session_replication_role = replica`;
      await tx`INSERT INTO folders (id, org_id, parent_id, parent_key, name, created_at, updated_at) VALUES ('fld_stray', 'org_gone', NULL, '', 'x', 1, 1)`;
    });
    const orgDir = join(dir, "files", kept.org_id);
    writeFileSync(join(orgDir, "file_oldorphan"), "old leftover");
    const dayAndMore = (Date.now() - REPAIR_MIN_AGE_MS - 3_600_000) / 1000;
    utimesSync(join(orgDir, "file_oldorphan"), dayAndMore, dayAndMore);
    writeFileSync(join(orgDir, "file_neworphan"), "maybe an upload in progress");

    const r = await runCli(["verify", "--json"], env);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ ok: false, engine: "postgres", database: db.masked, files_checked: 2, unfinished_uploads: [] });
    expect(report.problems).toEqual([
      { kind: "database", message: "foreign key: row fld_stray of folders points to a missing orgs" },
      { kind: "database", message: `ticket counts: org ${kept.org_id}, open/high is kept as 2, 1 ticket(s) counted` },
      {
        kind: "missing",
        file_id: gone.id,
        org_id: gone.org_id,
        path: `files/${gone.org_id}/${gone.id}`,
        message: `bytes missing (expected 800 bytes at files/${gone.org_id}/${gone.id})`,
      },
    ]);
    expect(report.orphans.map((o: { path: string }) => o.path).sort()).toEqual([`files/${kept.org_id}/file_neworphan`, `files/${kept.org_id}/file_oldorphan`]);

    const repaired = await runCli(["verify", "--repair"], env);
    expect(repaired.code).toBe(1);
    expect(repaired.stdout).toContain("Repair: 1 orphan(s) deleted, 0 unfinished upload(s) aborted; left 1 younger than 24 hours");
    expect(repaired.stdout.trim().split("\n").at(-1)).toBe("FAILED: 3 problem(s)");
    expect(existsSync(join(orgDir, "file_oldorphan"))).toBe(false);
    expect(existsSync(join(orgDir, "file_neworphan"))).toBe(true);
    expect(existsSync(join(orgDir, kept.id))).toBe(true);
    expect(r.stdout + repaired.stdout).not.toContain(PASSWORD);
  });
});

describe.skipIf(!base || !s3)("verify on PostgreSQL with files on S3", () => {
  test("missing, resized and corrupted objects reported (exit 1), an orphan and an unfinished upload listed; --repair leaves young ones, removes them once old", async () => {
    const db = await database();
    const prefix = `v-${randomBytes(4).toString("hex")}`;
    const dir = freshDir();
    const env = { CLIENTCOVE_DATABASE_URL: db.url, CLIENTCOVE_DATA_DIR: dir, ...storageEnv(prefix) };
    const s = await serve(env);
    const files = [await upload(s, db.sql, 2000, 1), await upload(s, db.sql, 3000, 2), await upload(s, db.sql, 4000, 3), await upload(s, db.sql, 5000, 4)];
    const [missing, resized, corrupt, fine] = files as [(typeof files)[0], (typeof files)[0], (typeof files)[0], (typeof files)[0]];
    expect(await s.stop()).toBe(0);
    const loc = (key: string) => `s3://${BUCKET}/${prefix}/${key}`;

    const healthy = await runCli(["verify", "--json"], env);
    expect(healthy.code).toBe(0);
    expect(JSON.parse(healthy.stdout)).toMatchObject({ ok: true, storage: `s3://${BUCKET}/${prefix}`, files_checked: 4, bytes_checked: 14000, orphans: [] });

    const bucket: S3Storage = createS3Storage({
      bucket: BUCKET,
      prefix,
      endpoint: s3!.endpoint,
      region: s3!.region,
      pathStyle: true,
      accessKeyId: s3!.accessKeyId,
      secretAccessKey: s3!.secretAccessKey,
    });
    const key = (f: { id: string; org_id: string }) => `${f.org_id}/${f.id}`;
    await bucket.delete(key(missing));
    await bucket.put(key(resized), new Blob([bytes(3001, 2)]).stream());
    const damaged = bytes(4000, 3);
    damaged[1234]! ^= 0x01;
    await bucket.put(key(corrupt), new Blob([damaged]).stream());
    await bucket.put("org_x/file_orphan", new Blob([bytes(10, 9)]).stream());
    const begun = await signedRequest(s3!, "POST", `/${BUCKET}/${prefix}/org_x/file_crashed`, { uploads: "" });
    expect(begun.status).toBe(200);
    await begun.text();

    const r = await runCli(["verify", "--json"], env);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.files_checked).toBe(4);
    expect(Object.fromEntries(report.problems.map((p: { kind: string; file_id: string }) => [p.kind, p.file_id]))).toEqual({
      missing: missing.id,
      size_mismatch: resized.id,
      sha256_mismatch: corrupt.id,
    });
    expect(report.problems.find((p: { kind: string }) => p.kind === "missing").path).toBe(loc(key(missing)));
    expect(report.problems.some((p: { file_id: string }) => p.file_id === fine.id)).toBe(false);
    expect(report.orphans).toEqual([{ path: loc("org_x/file_orphan"), size: 10 }]);
    expect(report.unfinished_uploads).toEqual([{ path: loc("org_x/file_crashed"), initiated_at: expect.stringMatching(/Z$/) }]);

    // Young: possibly uploads in progress on another instance, so --repair leaves both.
    const young = await runCli(["verify", "--repair"], env);
    expect(young.code).toBe(1);
    expect(young.stdout).toContain(`  ${loc("org_x/file_orphan")} (10 bytes)`);
    expect(young.stdout).toContain("Unfinished uploads: 1");
    expect(young.stdout).toContain("Repair: 0 orphan(s) deleted, 0 unfinished upload(s) aborted; left 2 younger than 24 hours");
    expect(await bucket.stat("org_x/file_orphan")).not.toBeNull();
    expect(await bucket.pendingUploads()).toHaveLength(1);

    // A day later (the clock injected), the same repair removes both, and nothing a row references.
    const pg = openPostgres({ url: db.url, poolSize: 2, statementTimeoutMs: 20_000 });
    pools.push(pg.sql);
    const existing = { sql: pg.sql, url: db.masked, schemaVersion: await existingPostgresSchema(pg.sql, db.masked) };
    const later = await verifyPostgres(existing, { dataDir: dir, storage: bucket, repair: true, clock: manualClock(Date.now() + REPAIR_MIN_AGE_MS + 60_000) });
    expect(later.repair).toEqual({ removed_orphans: 1, aborted_uploads: 1, kept_young: 0, kept_not_a_key: 0, min_age_hours: 24 });
    expect(await bucket.stat("org_x/file_orphan")).toBeNull();
    expect(await bucket.pendingUploads()).toEqual([]);
    expect(await bucket.stat(key(fine))).not.toBeNull();

    const after = JSON.parse((await runCli(["verify", "--json"], env)).stdout);
    expect({ orphans: after.orphans, unfinished: after.unfinished_uploads, problems: after.problems.length }).toEqual({
      orphans: [],
      unfinished: [],
      problems: 3,
    });
    for (const f of files) await bucket.delete(key(f));
  });
});
