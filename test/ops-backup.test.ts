// Backup and restore round trip through the real CLI: data written by the API, backed up while a writer keeps writing, restored, served again.
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { createSqliteTestEnv, tempDir, type SqliteTestEnv, type TestEnv } from "./helpers";
import { bytesOf, runCli, sha256, startServe } from "./ops-fixtures";
import { buildHeader } from "../src/ops/tar";

const TABLES = ["orgs", "users", "api_keys", "tickets", "ticket_counts", "folders", "files", "webhooks", "webhook_deliveries", "events"] as const;
const KEYS: Record<string, string> = { ticket_counts: "org_id, status, priority" };

function rowsById(sqlite: Database, table: string): Map<string, string> {
  const order = KEYS[table] ?? "id";
  const rows = sqlite.query(`SELECT * FROM ${table} ORDER BY ${order}`).all() as Record<string, unknown>[];
  return new Map(rows.map((r) => [KEYS[table] ? `${r.org_id}/${r.status}/${r.priority}` : String(r.id), JSON.stringify(r)]));
}

async function upload(env: TestEnv, key: string, bytes: Uint8Array, name: string, folderId?: string): Promise<{ id: string; download_url: string }> {
  const form = new FormData();
  if (folderId) form.append("folder_id", folderId);
  form.append("file", new Blob([bytes]), name);
  const res = await env.request("/v1/files", { method: "POST", key, body: form });
  expect(res.status).toBe(201);
  return res.json() as any;
}

async function createTicket(env: TestEnv, key: string, subject: string): Promise<string> {
  const res = await env.request("/v1/tickets", { method: "POST", key, json: { subject, priority: "high" } });
  expect(res.status).toBe(201);
  return ((await res.json()) as any).id;
}

describe("backup and restore round trip", () => {
  let env: SqliteTestEnv;
  let work: string;
  let archive: string;
  let restored: string;
  const sizes = [0, 1, 511, 512, 513, 70_000, 1024 * 1024 + 3];
  const uploaded: { id: string; bytes: Uint8Array; download_url: string; key: string }[] = [];
  const before = { tickets: [] as string[] };
  const during = { tickets: 0, files: 0 };
  let orgs: { orgId: string; key: string }[] = [];

  beforeAll(async () => {
    work = tempDir("cc-backup");
    archive = join(work, "backup.tar.gz");
    restored = join(work, "restored");
    env = await createSqliteTestEnv({ config: { webhookAllowPrivate: true } });
    orgs = [await env.org("Acme"), await env.org("Globex", "enterprise")];
    let seed = 1;
    for (const org of orgs) {
      const folder = await env.request("/v1/folders", { method: "POST", key: org.key, json: { name: "Contracts" } });
      expect(folder.status).toBe(201);
      const folderId = ((await folder.json()) as any).id;
      const hook = await env.request("/v1/webhooks", { method: "POST", key: org.key, json: { url: "http://127.0.0.1:9/hook", events: ["*"] } });
      expect(hook.status).toBe(201);
      for (let i = 0; i < 5; i++) before.tickets.push(await createTicket(env, org.key, `before ${i}`));
      for (const size of sizes) {
        const bytes = bytesOf(size, seed++);
        const f = await upload(env, org.key, bytes, `doc-${size}.bin`, size % 2 ? folderId : undefined);
        uploaded.push({ id: f.id, bytes, download_url: f.download_url, key: org.key });
      }
    }

    // The writer keeps writing (tickets, uploads) for as long as the backup process runs.
    let backupRunning = true;
    const writer = (async () => {
      let i = 0;
      while (backupRunning) {
        await createTicket(env, orgs[i % 2]!.key, `during ${i}`);
        during.tickets++;
        if (i % 4 === 0) {
          await upload(env, orgs[i % 2]!.key, bytesOf(3000 + i, 1000 + i), `during-${i}.bin`);
          during.files++;
        }
        i++;
      }
    })();
    const backup = await runCli(["backup", "--data-dir", env.dir, "--out", archive]);
    backupRunning = false;
    await writer;
    expect(backup.stderr).toBe("");
    expect(backup.code).toBe(0);
    expect(backup.stdout).toContain(`to ${archive}`);
  });

  afterAll(() => {
    env?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test("the writer really wrote while the backup ran", () => {
    expect(during.tickets).toBeGreaterThan(0);
  });

  test("the archive is a standard tar.gz: GNU tar lists it; its manifest names every member with size and sha256", async () => {
    const list = Bun.spawnSync(["tar", "-tzf", archive]);
    expect(list.exitCode).toBe(0);
    const names = list.stdout.toString().trim().split("\n");
    expect(names.at(-1)).toBe("manifest.json");
    expect(names).toContain("clientcove.db");
    expect(names).toContain("download-url.key");
    for (const f of uploaded) expect(names.some((n) => n.endsWith(`/${f.id}`))).toBe(true);
    const manifest = JSON.parse(Bun.spawnSync(["tar", "-xzOf", archive, "manifest.json"]).stdout.toString());
    expect(manifest).toMatchObject({ format: "clientcove-backup", format_version: 1, schema_version: expect.any(Number), warnings: [] });
    expect(manifest.members.map((m: { path: string }) => m.path).sort()).toEqual(names.filter((n) => n !== "manifest.json").sort());
    for (const f of uploaded) {
      const m = manifest.members.find((x: { path: string }) => x.path.endsWith(`/${f.id}`));
      expect(m).toEqual({ path: expect.stringMatching(/^files\/org_[0-9a-z]+\/file_[0-9a-z]+$/), size: f.bytes.byteLength, sha256: sha256(f.bytes) });
    }
    expect(statSync(archive).mode & 0o777).toBe(0o600);
  });

  test("restore into a new dir: every row of the snapshot present and identical, every file byte-identical, verify passes", async () => {
    const r = await runCli(["restore", archive, "--data-dir", restored]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Every member matched the manifest");

    const src = new Database(join(env.dir, "clientcove.db"), { readonly: true });
    const dst = new Database(join(restored, "clientcove.db"), { readonly: true });
    for (const table of TABLES) {
      const source = rowsById(src, table);
      const copy = rowsById(dst, table);
      // The writer only inserts (and bumps ticket counts), so every restored row equals its source row...
      for (const [id, row] of copy) if (table !== "ticket_counts") expect({ table, id, row }).toEqual({ table, id, row: source.get(id)! });
    }
    const restoredTickets = new Set(
      dst
        .query("SELECT id FROM tickets")
        .all()
        .map((r: any) => r.id),
    );
    // ...and everything written before the backup started is there.
    for (const id of before.tickets) expect(restoredTickets.has(id)).toBe(true);
    const restoredFiles = dst.query("SELECT id, storage_key, sha256, size_bytes FROM files").all() as {
      id: string;
      storage_key: string;
      sha256: string;
      size_bytes: number;
    }[];
    for (const f of uploaded) expect(restoredFiles.some((r) => r.id === f.id)).toBe(true);
    for (const row of restoredFiles) {
      const copy = readFileSync(join(restored, "files", row.storage_key));
      const original = readFileSync(join(env.dir, "files", row.storage_key));
      expect(Buffer.compare(copy, original)).toBe(0);
      expect(sha256(copy)).toBe(row.sha256);
    }
    // The snapshot is consistent: ticket counts agree with the tickets in it.
    const counted = (dst.query("SELECT COALESCE(SUM(count), 0) AS n FROM ticket_counts").get() as { n: number }).n;
    expect(counted).toBe(restoredTickets.size);
    expect(readFileSync(join(restored, "download-url.key"))).toEqual(readFileSync(join(env.dir, "download-url.key")));
    src.close();
    dst.close();

    const verify = await runCli(["verify", "--data-dir", restored]);
    expect(verify.stdout).toContain("OK");
    expect(verify.code).toBe(0);
  });

  test("the restored dir serves again: same tickets and files through the API, and old signed download links still work", async () => {
    const server = await startServe(["--data-dir", restored]);
    try {
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
      const ticketId = before.tickets[0]!;
      const live = (await (await env.request(`/v1/tickets/${ticketId}`, { key: orgs[0]!.key })).json()) as any;
      const res = await fetch(`${server.url}/v1/tickets/${ticketId}`, { headers: { authorization: `Bearer ${orgs[0]!.key}` } });
      expect(res.status).toBe(200);
      expect((await res.json()) as any).toEqual(live);
      for (const f of uploaded) {
        const meta = await fetch(`${server.url}/v1/files/${f.id}`, { headers: { authorization: `Bearer ${f.key}` } });
        expect(meta.status).toBe(200);
        expect(((await meta.json()) as any).sha256).toBe(sha256(f.bytes));
        const link = new URL(f.download_url);
        const dl = await fetch(`${server.url}${link.pathname}${link.search}`);
        expect(dl.status).toBe(200);
        expect(sha256(new Uint8Array(await dl.arrayBuffer()))).toBe(sha256(f.bytes));
      }
    } finally {
      server.proc.kill("SIGTERM");
      expect(await server.exited).toBe(0);
    }
  });

  test("restore refuses a non-empty target and leaves it untouched", async () => {
    const target = join(work, "occupied");
    mkdirSync(target);
    writeFileSync(join(target, "notes.txt"), "mine");
    const r = await runCli(["restore", archive, "--data-dir", target]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`refusing to restore into ${target}: it is not empty`);
    expect(readdirSync(target)).toEqual(["notes.txt"]);
    // Restoring over the live data dir is the same refusal.
    const again = await runCli(["restore", archive, "--data-dir", env.dir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("it is not empty");
  });

  const gz = () => readFileSync(archive);
  /** Unpacks the archive with GNU tar, lets `change` edit the tree, and packs it again the same way. */
  function repack(name: string, change: (dir: string) => void): string {
    const dir = join(work, `${name}-tree`);
    mkdirSync(dir);
    expect(Bun.spawnSync(["tar", "-xzf", archive, "-C", dir]).exitCode).toBe(0);
    change(dir);
    const out = join(work, `${name}.tar.gz`);
    const names = Bun.spawnSync(["tar", "-tzf", archive]).stdout.toString().trim().split("\n");
    expect(Bun.spawnSync(["tar", "--format=ustar", "-czf", out, "-C", dir, ...names.filter((n) => existsSync(join(dir, n)))]).exitCode).toBe(0);
    return out;
  }

  const refusals: [string, () => string, RegExp][] = [
    [
      "a flipped byte inside the gzip stream",
      () => {
        const bytes = gz();
        bytes[Math.floor(bytes.length / 2)] ^= 0xff;
        const p = join(work, "flipped.tar.gz");
        writeFileSync(p, bytes);
        return p;
      },
      /is corrupt or not a Client Cove backup: .*(gzip|checksum|truncated|sha256|header)/,
    ],
    [
      "a truncated archive",
      () => {
        const bytes = gz();
        const p = join(work, "truncated.tar.gz");
        writeFileSync(p, bytes.subarray(0, bytes.length - 2000));
        return p;
      },
      /is corrupt or not a Client Cove backup: .*(truncated|ends)/,
    ],
    [
      "a stored file changed after the backup (valid tar.gz, wrong sha256)",
      () =>
        repack("tampered", (dir) => {
          const m = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
          const member = m.members.find((x: { path: string; size: number }) => x.path.startsWith("files/") && x.size > 10);
          const p = join(dir, member.path);
          const b = readFileSync(p);
          b[5] ^= 1;
          writeFileSync(p, b);
        }),
      /does not match its sha256 in the manifest/,
    ],
    [
      "a member missing from the archive",
      () =>
        repack("missing", (dir) => {
          const m = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
          rmSync(join(dir, m.members.find((x: { path: string }) => x.path.startsWith("files/")).path));
        }),
      /listed in the manifest is missing/,
    ],
    ["an archive without a manifest", () => repack("nomanifest", (dir) => rmSync(join(dir, "manifest.json"))), /has no manifest\.json/],
    [
      "a backup from a newer schema",
      () =>
        repack("newer", (dir) => {
          const m = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
          m.schema_version = 999;
          writeFileSync(join(dir, "manifest.json"), JSON.stringify(m));
        }),
      /schema version 999, newer than this executable's/,
    ],
    [
      "a member path that escapes the data dir",
      () => {
        const evil = new TextEncoder().encode("evil");
        const tarBytes = Buffer.concat([buildHeader("../escaped.txt", evil.length), Buffer.from(evil), Buffer.alloc(512 - evil.length), Buffer.alloc(1024)]);
        const p = join(work, "escape.tar.gz");
        writeFileSync(p, gzipSync(tarBytes));
        return p;
      },
      /unexpected member "\.\.\/escaped\.txt"/,
    ],
    [
      "not gzip at all",
      () => {
        const p = join(work, "plain.txt");
        writeFileSync(p, "hello");
        return p;
      },
      /is corrupt or not a Client Cove backup: gzip data is damaged/,
    ],
  ];

  for (const [what, make, message] of refusals) {
    test(`restore refuses ${what}, says why, and leaves nothing behind`, async () => {
      const file = make();
      const target = join(work, `target-${what.replace(/\W+/g, "-")}`);
      const r = await runCli(["restore", file, "--data-dir", target]);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toContain("nothing was restored");
      expect(r.code).toBe(1);
      expect(existsSync(target)).toBe(false);
      expect(existsSync(join(work, "escaped.txt"))).toBe(false);
    });
  }

  test("restore into an existing empty dir that fails leaves the dir there, empty", async () => {
    const target = join(work, "empty-target");
    mkdirSync(target);
    const bytes = gz();
    const p = join(work, "truncated2.tar.gz");
    writeFileSync(p, bytes.subarray(0, bytes.length - 100));
    const r = await runCli(["restore", p, "--data-dir", target]);
    expect(r.code).toBe(1);
    expect(readdirSync(target)).toEqual([]);
  });

  test("the gzip layer alone is intact in the good archive (sanity for the corruption cases above)", () => {
    expect(gunzipSync(gz()).length % 512).toBe(0);
  });
});

describe("backup refusals and warnings", () => {
  test("backup refuses an existing output file unless --force, and a dir without a database", async () => {
    const env = await createSqliteTestEnv();
    const work = tempDir("cc-backup2");
    try {
      const out = join(work, "b.tar.gz");
      writeFileSync(out, "old");
      const r = await runCli(["backup", "--data-dir", env.dir, "--out", out]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("already exists; choose another name or pass --force");
      expect(readFileSync(out, "utf8")).toBe("old");
      const forced = await runCli(["backup", "--data-dir", env.dir, "--out", out, "--force"]);
      expect(forced.code).toBe(0);
      expect(Bun.spawnSync(["tar", "-tzf", out]).exitCode).toBe(0);
      // No temporary snapshot or partial archive is left beside it.
      expect(readdirSync(work)).toEqual(["b.tar.gz"]);

      const empty = join(work, "empty");
      mkdirSync(empty);
      const none = await runCli(["backup", "--data-dir", empty, "--out", join(work, "x.tar.gz")]);
      expect(none.code).toBe(1);
      expect(none.stderr).toContain(`no Client Cove database in ${empty}`);
      const usage = await runCli(["backup", "--data-dir", env.dir]);
      expect(usage.code).toBe(2);
      expect(usage.stderr).toContain("--out is required");
    } finally {
      env.close();
      rmSync(work, { recursive: true, force: true });
    }
  });

  test("a file row whose bytes are missing is kept, reported as a warning and recorded in the manifest", async () => {
    const env = await createSqliteTestEnv();
    const work = tempDir("cc-backup3");
    try {
      const org = await env.org();
      const form = new FormData();
      form.append("file", new Blob([bytesOf(100, 7)]), "gone.bin");
      const file = (await (await env.request("/v1/files", { method: "POST", key: org.key, body: form })).json()) as any;
      rmSync(join(env.dir, "files", org.orgId, file.id));
      const out = join(work, "b.tar.gz");
      const r = await runCli(["backup", "--data-dir", env.dir, "--out", out]);
      expect(r.code).toBe(0);
      expect(r.stderr).toContain(`warning: file ${file.id} (org ${org.orgId}): bytes missing`);
      const manifest = JSON.parse(Bun.spawnSync(["tar", "-xzOf", out, "manifest.json"]).stdout.toString());
      expect(manifest.counts.files).toBe(1);
      expect(manifest.warnings).toHaveLength(1);
    } finally {
      env.close();
      rmSync(work, { recursive: true, force: true });
    }
  });

  test("a file deleted after the snapshot, before its bytes are read, is left out with its row (the archive stays consistent)", async () => {
    const env = await createSqliteTestEnv();
    const work = tempDir("cc-backup4");
    try {
      const org = await env.org();
      const sqlite = env.handle.sqlite;
      // Files are archived in id order. Two FIFOs sort first: opening one blocks the backup until this test opens
      // its other end, so the test knows exactly where the backup is, without sleeps or polling.
      const fifoIds = ["file_000000000000000a", "file_000000000000000b"];
      mkdirSync(join(env.dir, "files", org.orgId), { recursive: true });
      for (const id of fifoIds) {
        expect(Bun.spawnSync(["mkfifo", join(env.dir, "files", org.orgId, id)]).exitCode).toBe(0);
        sqlite
          .query(
            "INSERT INTO files (id, org_id, filename, size_bytes, mime_type, sha256, storage_key, uploaded_at) VALUES (?, ?, 'pipe', 0, 'application/octet-stream', ?, ?, ?)",
          )
          .run(id, org.orgId, sha256(new Uint8Array(0)), `${org.orgId}/${id}`, Date.now());
      }
      const victim = "file_000000000000000c";
      const bytes = bytesOf(5000, 9);
      mkdirSync(join(env.dir, "files", org.orgId), { recursive: true });
      writeFileSync(join(env.dir, "files", org.orgId, victim), bytes);
      sqlite
        .query(
          "INSERT INTO files (id, org_id, filename, size_bytes, mime_type, sha256, storage_key, uploaded_at) VALUES (?, ?, 'v.bin', ?, 'application/octet-stream', ?, ?, ?)",
        )
        .run(victim, org.orgId, bytes.length, sha256(bytes), `${org.orgId}/${victim}`, Date.now());

      const out = join(work, "b.tar.gz");
      const backup = runCli(["backup", "--data-dir", env.dir, "--out", out, "--json"]);
      const { open } = await import("node:fs/promises");
      // Returns once the backup opened the first FIFO: the snapshot is taken and includes the victim's row.
      await (await open(join(env.dir, "files", org.orgId, fifoIds[0]!), "w")).close();
      // The backup now waits on the second FIFO while the file is deleted through the API.
      const del = await env.request(`/v1/files/${victim}`, { method: "DELETE", key: org.key });
      expect(del.status).toBe(204);
      await (await open(join(env.dir, "files", org.orgId, fifoIds[1]!), "w")).close();

      const r = await backup;
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const report = JSON.parse(r.stdout);
      expect(report.vanished).toEqual([victim]);
      expect(report.manifest.counts.files).toBe(2);
      const names = Bun.spawnSync(["tar", "-tzf", out]).stdout.toString();
      expect(names).not.toContain(victim);

      const restored = join(work, "restored");
      expect((await runCli(["restore", out, "--data-dir", restored])).code).toBe(0);
      const db = new Database(join(restored, "clientcove.db"), { readonly: true });
      expect(db.query("SELECT id FROM files ORDER BY id").all()).toEqual(fifoIds.map((id) => ({ id })));
      db.close();
      expect((await runCli(["verify", "--data-dir", restored])).code).toBe(0);
    } finally {
      env.close();
      rmSync(work, { recursive: true, force: true });
    }
  });
});
