// `clientcove verify` against real data dirs: finds missing, corrupted and resized bytes, broken foreign keys, and lists orphans.
import { describe, expect, test } from "bun:test";
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPAIR_MIN_AGE_MS } from "../src/ops/verify";
import { createSqliteTestEnv, type TestEnv } from "./helpers";
import { bytesOf, runCli } from "./ops-fixtures";

async function upload(env: TestEnv, key: string, size: number, seed: number): Promise<{ id: string; path: string }> {
  const form = new FormData();
  form.append("file", new Blob([bytesOf(size, seed)]), `f${seed}.bin`);
  const res = await env.request("/v1/files", { method: "POST", key, body: form });
  expect(res.status).toBe(201);
  const { id } = (await res.json()) as any;
  const row = (await env.db.get("SELECT storage_key FROM files WHERE id = ?", id)) as { storage_key: string };
  return { id, path: join(env.dir, "files", row.storage_key) };
}

describe("verify", () => {
  test("a healthy data dir: exit 0, every file checked", async () => {
    const env = await createSqliteTestEnv();
    try {
      const org = await env.org();
      for (let i = 0; i < 3; i++) await upload(env, org.key, 1000 * (i + 1), i + 1);
      const r = await runCli(["verify", "--data-dir", env.dir]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("Files: 3 checked (5.86 KiB, sha256 verified)");
      expect(r.stdout).toContain("Orphans: 0");
      expect(r.stdout.trim().split("\n").at(-1)).toBe("OK");
    } finally {
      env.close();
    }
  });

  test("finds a missing file, a corrupted file (same size) and a resized file; lists an orphan; exit 1", async () => {
    const env = await createSqliteTestEnv();
    try {
      const org = await env.org();
      const missing = await upload(env, org.key, 2000, 1);
      const corrupt = await upload(env, org.key, 3000, 2);
      const resized = await upload(env, org.key, 4000, 3);
      const fine = await upload(env, org.key, 5000, 4);
      rmSync(missing.path);
      const bytes = readFileSync(corrupt.path);
      bytes[1234] ^= 0x01;
      writeFileSync(corrupt.path, bytes);
      appendFileSync(resized.path, "x");
      mkdirSync(join(env.dir, "files", "org_stray"), { recursive: true });
      writeFileSync(join(env.dir, "files", "org_stray", "file_nobody"), "leftover");

      const r = await runCli(["verify", "--data-dir", env.dir, "--json"]);
      expect(r.code).toBe(1);
      const report = JSON.parse(r.stdout);
      expect(report.ok).toBe(false);
      expect(report.files_checked).toBe(4);
      const byKind = Object.fromEntries(report.problems.map((p: { kind: string; file_id: string }) => [p.kind, p.file_id]));
      expect(byKind).toEqual({ missing: missing.id, sha256_mismatch: corrupt.id, size_mismatch: resized.id });
      expect(report.problems.every((p: { org_id: string }) => p.org_id === org.orgId)).toBe(true);
      expect(report.problems.some((p: { file_id: string }) => p.file_id === fine.id)).toBe(false);
      expect(report.orphans).toEqual([{ path: "files/org_stray/file_nobody", size: 8 }]);

      const text = await runCli(["verify", "--data-dir", env.dir]);
      expect(text.code).toBe(1);
      expect(text.stdout).toContain(`missing            ${missing.id} (org ${org.orgId}): bytes missing (expected 2000 bytes`);
      expect(text.stdout).toContain(`sha256_mismatch    ${corrupt.id}`);
      expect(text.stdout).toContain("files/org_stray/file_nobody (8 bytes)");
      expect(text.stdout.trim().split("\n").at(-1)).toBe("FAILED: 3 problem(s)");

      // --quick checks presence and size only: the same-size corruption goes unnoticed, the rest does not.
      const quick = JSON.parse((await runCli(["verify", "--data-dir", env.dir, "--quick", "--json"])).stdout);
      expect(quick.problems.map((p: { kind: string }) => p.kind).sort()).toEqual(["missing", "size_mismatch"]);
    } finally {
      env.close();
    }
  });

  test("orphans alone are reported but are not a failure", async () => {
    const env = await createSqliteTestEnv();
    try {
      mkdirSync(join(env.dir, "files", "org_x"), { recursive: true });
      writeFileSync(join(env.dir, "files", "org_x", "file_y"), "z");
      const r = await runCli(["verify", "--data-dir", env.dir]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("Orphans: 1");
    } finally {
      env.close();
    }
  });

  test("database problems: a row pointing at a missing parent is reported (foreign key check)", async () => {
    const env = await createSqliteTestEnv();
    try {
      env.handle.sqlite.exec("PRAGMA foreign_keys = OFF");
      await env.db.run(
        "INSERT INTO tickets (id, org_id, subject, status, priority, created_at, updated_at) VALUES ('tkt_orphan', 'org_gone', 's', 'open', 'low', 1, 1)",
      );
      env.handle.sqlite.exec("PRAGMA foreign_keys = ON");
      const r = await runCli(["verify", "--data-dir", env.dir, "--json"]);
      expect(r.code).toBe(1);
      const report = JSON.parse(r.stdout);
      expect(report.problems).toEqual([
        { kind: "database", message: expect.stringMatching(/^foreign key: row \d+ of tickets points to a missing orgs$/) },
        // Written past the store, the ticket is not in ticket_counts either (meta.total would be wrong).
        { kind: "database", message: "ticket counts: org org_gone, open/low is kept as 0, 1 ticket(s) counted" },
      ]);
    } finally {
      env.close();
    }
  });

  test("ticket counts that differ from the tickets are a database problem (exit 1)", async () => {
    const env = await createSqliteTestEnv();
    try {
      const org = await env.org();
      expect((await env.request("/v1/tickets", { method: "POST", key: org.key, json: { subject: "s", priority: "high" } })).status).toBe(201);
      expect((await runCli(["verify", "--data-dir", env.dir])).code).toBe(0);
      await env.db.run("UPDATE ticket_counts SET count = count + 2 WHERE org_id = ?", org.orgId);
      const r = await runCli(["verify", "--data-dir", env.dir, "--json"]);
      expect(r.code).toBe(1);
      expect(JSON.parse(r.stdout).problems).toEqual([
        { kind: "database", message: `ticket counts: org ${org.orgId}, open/high is kept as 3, 1 ticket(s) counted` },
      ]);
    } finally {
      env.close();
    }
  });

  test("--repair deletes orphans over a day old; keeps younger ones (uploads in progress) and stray names", async () => {
    const env = await createSqliteTestEnv();
    try {
      const orgDir = join(env.dir, "files", "org_x");
      mkdirSync(orgDir, { recursive: true });
      for (const name of ["file_old", "file_young"]) writeFileSync(join(orgDir, name), name);
      writeFileSync(join(env.dir, "files", "stray.txt"), "not a storage key");
      const old = (Date.now() - REPAIR_MIN_AGE_MS - 3_600_000) / 1000;
      for (const p of [join(orgDir, "file_old"), join(env.dir, "files", "stray.txt")]) utimesSync(p, old, old);

      const r = await runCli(["verify", "--data-dir", env.dir, "--repair", "--json"]);
      expect(r.code).toBe(0);
      const report = JSON.parse(r.stdout);
      expect(report.orphans.map((o: { path: string }) => o.path).sort()).toEqual(["files/org_x/file_old", "files/org_x/file_young", "files/stray.txt"]);
      expect(report.repair).toEqual({ removed_orphans: 1, aborted_uploads: 0, kept_young: 1, kept_not_a_key: 1, min_age_hours: 24 });
      expect(existsSync(join(orgDir, "file_old"))).toBe(false);
      expect(existsSync(join(orgDir, "file_young"))).toBe(true);
      const text = await runCli(["verify", "--data-dir", env.dir, "--repair"]);
      expect(text.stdout).toContain(
        "Repair: 0 orphan(s) deleted, 0 unfinished upload(s) aborted; left 1 younger than 24 hours (possibly uploads in progress), 1 not named like stored files (remove by hand)",
      );
    } finally {
      env.close();
    }
  });

  test("a data dir without a database, or a missing one, is a clear error (exit 1)", async () => {
    const env = await createSqliteTestEnv();
    try {
      const r = await runCli(["verify", "--data-dir", join(env.dir, "files")]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^clientcove: (no Client Cove database in|data dir) /);
    } finally {
      env.close();
    }
  });
});
