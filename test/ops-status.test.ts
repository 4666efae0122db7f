// `clientcove status` against a real data dir, with the server stopped and while it runs.
import { describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { createSqliteTestEnv, tempDir } from "./helpers";
import { bytesOf, runCli, seedDelivery, seedFile, seedWebhook, startServe } from "./ops-fixtures";

describe("status", () => {
  test("counts organizations, tickets, files, stored bytes and deliveries by status", async () => {
    const env = await createSqliteTestEnv();
    try {
      const a = await env.org("Acme");
      const b = await env.org("Globex");
      for (let i = 0; i < 3; i++) expect((await env.request("/v1/tickets", { method: "POST", key: a.key, json: { subject: `t${i}` } })).status).toBe(201);
      expect((await env.request("/v1/tickets", { method: "POST", key: b.key, json: { subject: "b" } })).status).toBe(201);
      seedFile(env.handle.sqlite, env.dir, a.orgId, bytesOf(1000, 1));
      seedFile(env.handle.sqlite, env.dir, b.orgId, bytesOf(2500, 2));
      const hook = seedWebhook(env.handle.sqlite, a.orgId);
      for (const s of ["pending", "pending", "failed", "succeeded"] as const) seedDelivery(env.handle.sqlite, a.orgId, hook, s);

      const r = await runCli(["status", "--data-dir", env.dir, "--json"]);
      expect(r.code).toBe(0);
      const s = JSON.parse(r.stdout);
      expect(s).toMatchObject({
        data_dir: env.dir,
        database: join(env.dir, "clientcove.db"),
        schema_version: s.executable_schema_version,
        counts: { orgs: 2, users: 2, api_keys: 2, tickets: 4, files: 2, webhooks: 1, webhook_deliveries: 4 },
        stored_bytes: 3500,
        deliveries: { pending: 2, failed: 1, succeeded: 1, cancelled: 0 },
      });
      expect(s.database_bytes).toBeGreaterThan(0);

      const text = await runCli(["status", "--data-dir", env.dir]);
      expect(text.stdout).toContain("Organizations:   2");
      expect(text.stdout).toContain("Tickets:         4");
      expect(text.stdout).toContain("Files:           2 (3.42 KiB stored)");
      expect(text.stdout).toContain("Deliveries:      2 pending, 1 failed, 1 succeeded, 0 cancelled");
    } finally {
      env.close();
    }
  });

  test("works while the server runs, and takes --data-dir from the environment", async () => {
    const dir = tempDir("cc-status");
    const server = await startServe(["--data-dir", dir], { expectKey: true });
    try {
      const res = await fetch(`${server.url}/v1/tickets`, {
        method: "POST",
        headers: { authorization: `Bearer ${server.key}`, "content-type": "application/json" },
        body: JSON.stringify({ subject: "live" }),
      });
      expect(res.status).toBe(201);
      const r = await runCli(["status", "--json"], { CLIENTCOVE_DATA_DIR: dir });
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).counts).toMatchObject({ orgs: 1, tickets: 1 });
    } finally {
      server.proc.kill("SIGTERM");
      expect(await server.exited).toBe(0);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a dir that is not a data dir is a clear error, and nothing is created there", async () => {
    const dir = tempDir("cc-status-empty");
    try {
      const r = await runCli(["status", "--data-dir", dir]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`clientcove: no Client Cove database in ${dir} (expected clientcove.db)\n`);
      expect(Bun.spawnSync(["ls", "-A", dir]).stdout.toString()).toBe("");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
