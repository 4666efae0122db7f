// The real server on PostgreSQL (child processes, a real server, real ports): the API end to end, readiness while the database goes away and comes back, start-up failures, two instances on one database.
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Sql } from "postgres";
import { openPostgres } from "../src/db/postgres/client";
import { MIGRATIONS_TABLE, POSTGRES_SCHEMA_VERSION } from "../src/db/postgres/migrate";
import { expectOneLine, freePort, runCli, startServerProcess, tempDir, type ServerProcess } from "./helpers";
import { freshDatabase, postgresUrl } from "./services/postgres";
import { startReceiver, until, waitFor, type Receiver } from "./webhooks-fixtures";

// Child processes starting on a real server and a database that is taken away: room for a loaded machine.
setDefaultTimeout(60_000);
// Prints one line saying why when there is no server (never a silent skip).
const base = await postgresUrl();
if (!base) process.stderr.write("test/pg-serve.test.ts: skipped (no PostgreSQL server; see the line above)\n");

const SECRET = /cc_[0-9A-Za-z]{32,}/;
const dirs: string[] = [];
const servers: ServerProcess[] = [];
const receivers: Receiver[] = [];
const drops: (() => Promise<void>)[] = [];
let admin: Sql | undefined;

afterAll(async () => {
  for (const s of servers) await s.stop("SIGKILL").catch(() => {});
  receivers.forEach((r) => r.stop());
  await admin?.end({ timeout: 5 });
  for (const drop of drops) await drop().catch(() => {});
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}, 60_000);

/** A superuser pool on the server's own database, to watch and disturb the databases the servers use. */
function adminSql(): Sql {
  admin ??= openPostgres({ url: base!, poolSize: 2, statementTimeoutMs: 20_000 }).sql;
  return admin;
}

async function database(): Promise<{ url: string; name: string }> {
  const db = await freshDatabase();
  drops.push(db.drop);
  return { url: db.url, name: new URL(db.url).pathname.slice(1) };
}

function freshDir(): string {
  const d = tempDir("cc-pg-serve");
  dirs.push(d);
  return d;
}

async function serve(url: string, dir = freshDir(), extra: string[] = []): Promise<ServerProcess & { dir: string }> {
  const s = await startServerProcess([
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--data-dir",
    dir,
    "--database-url",
    url,
    "--webhook-allow-private",
    "--webhook-retry-base-ms",
    "50",
    "--rate-limit-per-minute",
    "0",
    ...extra,
  ]);
  servers.push(s);
  return Object.assign(s, { dir });
}

async function api(s: { url: string }, key: string, method: string, path: string, json?: unknown): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${s.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(json === undefined ? {} : { "content-type": "application/json" }) },
    body: json === undefined ? undefined : JSON.stringify(json),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

async function uploadFile(s: { url: string }, key: string, bytes: Uint8Array, filename: string, fields: Record<string, string> = {}) {
  const fd = new FormData();
  for (const [k, v] of Object.entries(fields)) fd.append(k, v);
  fd.append("file", new Blob([bytes], { type: "application/octet-stream" }), filename);
  const res = await fetch(`${s.url}/v1/files`, { method: "POST", headers: { authorization: `Bearer ${key}` }, body: fd });
  const body = (await res.json()) as any;
  expect({ status: res.status, body }).toEqual({ status: 201, body: expect.objectContaining({ filename }) });
  return body as { id: string; download_url: string; sha256: string; size_bytes: number };
}

/** The path and query of a signed link, sent to `s` (links carry the public URL of the instance that minted them). */
function fetchLink(s: { url: string }, downloadUrl: string): Promise<Response> {
  const u = new URL(downloadUrl);
  return fetch(`${s.url}${u.pathname}${u.search}`);
}

async function readyz(s: { url: string }): Promise<{ status: number; body: any }> {
  const res = await fetch(`${s.url}/readyz`);
  return { status: res.status, body: await res.json() };
}

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
const sha256 = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");

describe.skipIf(!base)("serve on PostgreSQL", () => {
  test("the API end to end: bootstrap key, tickets, folders and files, a delivered webhook; /readyz follows the database", async () => {
    const db = await database();
    const receiver = startReceiver();
    receivers.push(receiver);
    const s = await serve(db.url);
    const key = (await s.waitForStderr(SECRET))[0];
    const listening = JSON.parse(
      s
        .stdout()
        .split("\n")
        .find((l) => l.includes('"listening"'))!,
    );
    // The log names the database without its password (the test server's URL has none, so the user and host).
    expect(listening.database).toBe(db.url);

    // Tickets: create, read, update, list with its exact total, delete.
    const created = [];
    for (const subject of ["Printer on fire", "VPN down", "New laptop"]) {
      const r = await api(s, key, "POST", "/v1/tickets", { subject, priority: "high" });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      created.push(r.body);
    }
    const got = await api(s, key, "GET", `/v1/tickets/${created[0].id}`);
    expect(got.body).toEqual(created[0]);
    const patched = await api(s, key, "PATCH", `/v1/tickets/${created[1].id}`, { status: "in_progress" });
    expect({ status: patched.status, value: patched.body.status }).toEqual({ status: 200, value: "in_progress" });
    let list = await api(s, key, "GET", "/v1/tickets?per_page=2");
    expect(list.status).toBe(200);
    expect(list.body.data).toHaveLength(2);
    expect(list.body.meta.total).toBe(3);
    expect((await api(s, key, "DELETE", `/v1/tickets/${created[2].id}`)).status).toBe(204);
    list = await api(s, key, "GET", "/v1/tickets");
    expect(list.body.meta.total).toBe(2);
    expect(list.body.data.map((t: { id: string }) => t.id).sort()).toEqual([created[0].id, created[1].id].sort());

    // A folder, a file uploaded into it (bytes in the data dir), its signed download link.
    const folder = await api(s, key, "POST", "/v1/folders", { name: "Contracts" });
    expect(folder.status, JSON.stringify(folder.body)).toBe(201);
    const content = bytes(100_000, 7);
    const file = await uploadFile(s, key, content, "contract.pdf", { folder_id: folder.body.id });
    expect(file.sha256).toBe(sha256(content));
    expect(file.size_bytes).toBe(content.byteLength);
    const download = await fetchLink(s, file.download_url);
    expect(download.status).toBe(200);
    expect(new Uint8Array(await download.arrayBuffer())).toEqual(content);
    const inFolder = await api(s, key, "GET", `/v1/files?folder_id=${folder.body.id}`);
    expect(inFolder.body.data.map((f: { id: string }) => f.id)).toEqual([file.id]);

    // A webhook to a real receiver, delivered for a ticket created after it.
    const hook = await api(s, key, "POST", "/v1/webhooks", { url: `${receiver.url}/hook`, events: ["ticket.created"] });
    expect(hook.status, JSON.stringify(hook.body)).toBe(201);
    const ticket = await api(s, key, "POST", "/v1/tickets", { subject: "Hooked" });
    const delivered = await until(
      () => receiver.requests.find((r) => r.json?.event === "ticket.created" && r.json?.data?.id === ticket.body.id),
      "the ticket.created webhook",
      20_000,
    );
    expect(delivered.headers["webhook-id"]).toBeTruthy();
    expect(delivered.headers["webhook-signature"]).toMatch(/^v1,/);

    // Readiness: ready; then the database refuses connections and the server's are cut: 503 naming the database;
    // then it allows them again: ready again, by itself.
    expect(await readyz(s)).toEqual({ status: 200, body: { status: "ready", checks: { database: "ok", migrations: "ok", data_dir: "ok" } } });
    const sql = adminSql();
    await sql.unsafe(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS false`);
    try {
      await sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${db.name} AND pid <> pg_backend_pid()`;
      const down = await readyz(s);
      expect(down.status).toBe(503);
      expect(down.body.error).toBe("not_ready");
      expect(down.body.checks.database).toMatch(/^database does not answer/);
      expect(down.body.checks.data_dir).toBe("ok");
      expect(down.body.message).toMatch(/database: /);
      // While the database is down, the API answers with an error, not a hang.
      const during = await api(s, key, "GET", "/v1/tickets");
      expect(during.status).toBeGreaterThanOrEqual(500);
    } finally {
      await sql.unsafe(`ALTER DATABASE ${db.name} ALLOW_CONNECTIONS true`);
    }
    await waitFor(async () => (await readyz(s)).status === 200, "/readyz to recover", 30_000);
    expect((await api(s, key, "GET", "/v1/tickets")).body.meta.total).toBe(3);

    // A graceful stop: exit 0, the pool ended (no connection of the server is left).
    expect(await s.stop("SIGTERM")).toBe(0);
    // (A backend ends a moment after its client hung up: polled, it is another process.)
    await waitFor(
      async () => (await sql`SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = ${db.name}`)[0]!.n === 0,
      "the server's connections to end",
    );
  });

  test("two instances started at once on one empty database: both come up, migrations and bootstrap happen once, each accepts the other's links", async () => {
    const db = await database();
    const [a, b] = await Promise.all([serve(db.url), serve(db.url)]);
    const target = openPostgres({ url: db.url, poolSize: 1, statementTimeoutMs: 10_000 });
    try {
      const [m] = await target.sql.unsafe(`SELECT COUNT(*) AS n, COUNT(DISTINCT version) AS versions FROM ${MIGRATIONS_TABLE}`);
      expect({ n: m!.n, versions: m!.versions }).toEqual({ n: POSTGRES_SCHEMA_VERSION, versions: POSTGRES_SCHEMA_VERSION });
      const [orgs] = await target.sql`SELECT COUNT(*) AS n FROM orgs`;
      expect(orgs!.n).toBe(1);
      const [keys] = await target.sql`SELECT COUNT(*) AS n FROM settings WHERE name = 'download_url_key'`;
      expect(keys!.n).toBe(1);
    } finally {
      await target.close();
    }
    // Exactly one of them printed the first key.
    const key = (await Promise.any([a.waitForStderr(SECRET), b.waitForStderr(SECRET)]))[0];
    for (const s of [a, b]) expect((await readyz(s)).status).toBe(200);

    // The key works on both; a file uploaded through A has a link B accepts (its bytes are in A's data dir: this
    // setup has no shared storage, so the test copies them to B's, as a shared bucket would hold them).
    const content = bytes(5000, 3);
    const file = await uploadFile(a, key, content, "shared.bin");
    const [org] = readdirSync(join(a.dir, "files"));
    mkdirSync(join(b.dir, "files", org!), { recursive: true });
    copyFileSync(join(a.dir, "files", org!, file.id), join(b.dir, "files", org!, file.id));
    const onB = await fetchLink(b, file.download_url);
    expect(onB.status).toBe(200);
    expect(new Uint8Array(await onB.arrayBuffer())).toEqual(content);
    // …while B still checks signatures: a forged one is refused.
    const forged = new URL(file.download_url);
    forged.searchParams.set("signature", "A".repeat(43));
    const refused = await fetchLink(b, forged.toString());
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as any).error).toBe("invalid_download_link");
    // And the other way round: B mints, A accepts.
    const fromB = await api(b, key, "GET", `/v1/files/${file.id}`);
    expect(fromB.status).toBe(200);
    const onA = await fetchLink(a, fromB.body.download_url);
    expect(onA.status).toBe(200);

    // A ticket written through one is read through the other.
    const t = await api(a, key, "POST", "/v1/tickets", { subject: "Seen everywhere" });
    expect((await api(b, key, "GET", `/v1/tickets/${t.body.id}`)).body).toEqual(t.body);

    expect(await a.stop()).toBe(0);
    expect(await b.stop()).toBe(0);
    const printed = [a, b].map((s) => (s.stderr().match(new RegExp(SECRET, "g")) ?? []).length > 0);
    expect(printed.filter(Boolean)).toHaveLength(1);
  });

  test("bad credentials and a missing database: one line naming the database (password masked), exit 2", async () => {
    const dir = freshDir();
    const db = await database();
    const nobody = new URL(db.url);
    nobody.username = "nobody_here";
    nobody.password = "s3cret-pw";
    const denied = expectOneLine(
      runCli(["serve", "--port", "0", "--data-dir", dir, "--database-url", nobody.toString()]),
      2,
      /^clientcove: cannot connect to PostgreSQL at /,
    );
    expect(denied).toMatch(/nobody_here/);
    expect(denied).not.toContain("s3cret");
    const missing = new URL(db.url);
    missing.pathname = "/no_such_database";
    expectOneLine(
      runCli(["serve", "--port", "0", "--data-dir", dir, "--database-url", missing.toString()]),
      2,
      /database "no_such_database" does not exist \(3D000\)$/,
    );
  });

  test("a database migrated by a newer build is refused at start as on SQLite (exit 1)", async () => {
    const db = await database();
    const dir = freshDir();
    expect(runCli(["migrate", "--database-url", db.url]).code).toBe(0);
    const target = openPostgres({ url: db.url, poolSize: 1, statementTimeoutMs: 10_000 });
    try {
      await target.sql.unsafe(`INSERT INTO ${MIGRATIONS_TABLE} (version, tag, hash, applied_at) VALUES ($1, $2, $3, $4)`, [
        POSTGRES_SCHEMA_VERSION,
        "9999_from_the_future",
        "f".repeat(64),
        0,
      ]);
    } finally {
      await target.close();
    }
    expectOneLine(
      runCli(["serve", "--port", "0", "--data-dir", dir, "--database-url", db.url]),
      1,
      new RegExp(
        `^clientcove: This database was written by a newer version of Client Cove \\(schema version ${POSTGRES_SCHEMA_VERSION + 1}; this executable knows ${POSTGRES_SCHEMA_VERSION}\\)\\. Upgrade the executable; the database was not changed\\.$`,
      ),
    );
  });

  test("migrate reports; keys and orgs work on PostgreSQL and their key opens a server on it; metrics with the data gauges", async () => {
    const db = await database();
    const env = { CLIENTCOVE_DATABASE_URL: db.url };
    const migrated = runCli(["migrate", "--json"], { env });
    expect(migrated.code, migrated.stderr).toBe(0);
    // Every migration embedded in the build, in order: the .sql files beside the code.
    const tags = readdirSync(join(import.meta.dir, "..", "src", "db", "postgres", "migrations"))
      .filter((f) => f.endsWith(".sql"))
      .sort()
      .map((f) => f.slice(0, -4));
    expect(JSON.parse(migrated.stdout)).toEqual({ applied: tags, schema_version: POSTGRES_SCHEMA_VERSION, database: db.url });
    expect(JSON.parse(runCli(["migrate", "--json"], { env }).stdout).applied).toEqual([]);

    const org = runCli(["orgs", "create", "--name", "Globex", "--json"], { env });
    expect(org.code, org.stderr).toBe(0);
    const orgId = JSON.parse(org.stdout).id;
    const listed = runCli(["orgs", "list", "--json"], { env });
    expect(JSON.parse(listed.stdout).map((o: { id: string }) => o.id)).toEqual([orgId]);
    const key = runCli(["keys", "create", "--org", orgId, "--json"], { env });
    expect(key.code, key.stderr).toBe(0);
    const secret = JSON.parse(key.stdout).key as string;

    // The key made by the CLI opens the API of a server on the same database.
    const s = await serve(db.url, undefined, ["--metrics"]);
    expect((await api(s, secret, "GET", "/v1/tickets")).status).toBe(200);
    // Metrics: the request and writer counters, and the data gauges read from PostgreSQL.
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    expect(metrics).toMatch(/^clientcove_http_requests_total\{method="GET",route="\/v1\/tickets",status="200"\} 1$/m);
    expect(metrics).toMatch(/^clientcove_db_writes_total \d+$/m);
    expect(metrics).toMatch(/^clientcove_stored_files 0$/m);
    expect(await s.stop()).toBe(0);
  });
});

// These need no PostgreSQL server: the URL is refused, the port is closed, or nothing connects.
describe("start-up and commands with a database URL", () => {
  test("a bad database URL: one line, exit 2, the password never shown", () => {
    const dir = freshDir();
    expectOneLine(
      runCli(["serve", "--port", "0", "--data-dir", dir, "--database-url", "mysql://ann:s3cret-pw@db.example/app"]),
      2,
      /^clientcove: --database-url: expected a postgres:\/\/ or postgresql:\/\/ URL/,
    );
    const fromEnv = expectOneLine(
      runCli(["serve", "--port", "0", "--data-dir", dir], { env: { CLIENTCOVE_DATABASE_URL: "postgres://ann:s3cret-pw@db.example/app?sslmode=sometimes" } }),
      2,
      /^clientcove: CLIENTCOVE_DATABASE_URL: sslmode must be one of/,
    );
    expect(fromEnv).not.toContain("s3cret");
  });

  test("an unreachable database: one line naming it (password masked), exit 2; also for a CLI command", () => {
    const dir = freshDir();
    const port = freePort();
    const refused = expectOneLine(
      runCli(["serve", "--port", "0", "--data-dir", dir, "--database-url", `postgres://ann:s3cret-pw@127.0.0.1:${port}/app?sslmode=disable`]),
      2,
      new RegExp(
        `^clientcove: cannot connect to PostgreSQL at postgres://ann:\\*{8}@127\\.0\\.0\\.1:${port}/app\\?sslmode=disable: connection refused \\(ECONNREFUSED; start-up waits up to 10 s for the database\\)$`,
      ),
    );
    expect(refused).not.toContain("s3cret");
    expectOneLine(
      runCli(["orgs", "list"], { env: { CLIENTCOVE_DATABASE_URL: `postgres://ann@127.0.0.1:${freePort()}/app?sslmode=disable` } }),
      2,
      /^clientcove: cannot connect to PostgreSQL at .*: connection refused/,
    );
  });

  test("clientcove config masks the database password", () => {
    const shown = runCli(["config", "--database-url", "postgres://ann:s3cret-pw@db.example:5432/app?sslmode=require"]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^database-url\s+postgres:\/\/ann:\*{8}@db\.example:5432\/app\?sslmode=require\s+flag \(--database-url\)$/m);
    expect(shown.stdout).not.toContain("s3cret");
    const json = runCli(["config", "--json"], { env: { CLIENTCOVE_DATABASE_URL: "postgres://ann:s3cret-pw@db.example/app" } });
    expect(JSON.parse(json.stdout).settings["database-url"]).toEqual({
      value: "postgres://ann:********@db.example/app",
      source: "env",
      from: "CLIENTCOVE_DATABASE_URL",
    });
    expect(json.stdout).not.toContain("s3cret");
  });

  test("backup and restore with an unreachable database: one line, exit 2, the password never shown", () => {
    const url = `postgres://ann:s3cret-pw@127.0.0.1:${freePort()}/app`;
    const archiveDir = freshDir();
    writeFileSync(join(archiveDir, "b.tar.gz"), "");
    for (const args of [
      ["backup", "--out", join(freshDir(), "b.tar.gz")],
      ["restore", join(archiveDir, "b.tar.gz"), "--data-dir", join(freshDir(), "restored")],
    ]) {
      const line = expectOneLine(
        runCli(args, { env: { CLIENTCOVE_DATABASE_URL: url } }),
        2,
        /^clientcove: cannot connect to PostgreSQL at postgres:\/\/ann:\*{8}@127\.0\.0\.1:\d+\/app/,
      );
      expect(line).not.toContain("s3cret");
    }
  });
});
