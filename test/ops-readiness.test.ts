// /healthz and /readyz: unauthenticated; readiness fails (503, naming the check) when the data dir turns read-only, the schema is off, or the database is gone.
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, readdirSync, rmSync } from "node:fs";
import { createSqliteTestEnv, tempDir } from "./helpers";
import { runCli, startServe } from "./ops-fixtures";

const isRoot = process.getuid?.() === 0;
/** Root ignores mode bits, so as root the test makes the data dir a read-only bind mount in a private mount namespace. */
const canUseMountNamespace = isRoot && Bun.spawnSync(["unshare", "--mount", "--propagation", "private", "true"]).exitCode === 0;

describe("health probes", () => {
  test("/healthz and /readyz answer 200 without a key, and the probe file is cleaned up", async () => {
    const env = await createSqliteTestEnv();
    try {
      const health = await env.request("/healthz");
      expect(health.status).toBe(200);
      expect((await health.json()) as any).toEqual({ status: "ok" });
      const ready = await env.request("/readyz");
      expect(ready.status).toBe(200);
      expect((await ready.json()) as any).toEqual({ status: "ready", checks: { database: "ok", migrations: "ok", data_dir: "ok" } });
      expect(readdirSync(env.dir).filter((n) => n.startsWith(".readyz"))).toEqual([]);
    } finally {
      env.close();
    }
  });

  test("/readyz is 503 naming the migrations check when the schema version is not this executable's", async () => {
    const env = await createSqliteTestEnv();
    try {
      const rows = (await env.db.all("SELECT * FROM __drizzle_migrations")) as Record<string, unknown>[];
      env.handle.sqlite.exec("DELETE FROM __drizzle_migrations");
      const res = await env.request("/readyz");
      expect(res.status).toBe(503);
      const body = (await res.json()) as any;
      expect(body.error).toBe("not_ready");
      expect(body.checks.database).toBe("ok");
      expect(body.checks.migrations).toMatch(/^schema version 0, expected \d+$/);
      expect(body.checks.data_dir).toBe("ok");
      expect(body.message).toContain("migrations:");
      for (const r of rows)
        await env.db.run("INSERT INTO __drizzle_migrations (id, hash, created_at) VALUES (?, ?, ?)", r.id as number, r.hash as string, r.created_at as number);
      expect((await env.request("/readyz")).status).toBe(200);
    } finally {
      env.close();
    }
  });

  test("/readyz is 503 naming the database when the database does not answer", async () => {
    const env = await createSqliteTestEnv();
    env.handle.sqlite.close();
    const res = await env.request("/readyz");
    expect(res.status).toBe(503);
    const body = (await res.json()) as any;
    expect(body.checks.database).toMatch(/^database does not answer/);
    rmSync(env.dir, { recursive: true, force: true });
  });

  test.if(canUseMountNamespace)(
    "/readyz is 503 naming the data dir when it turns read-only under a running server (read-only bind mount), and 200 again after",
    async () => {
      const dir = tempDir("cc-ready");
      afterAll(() => rmSync(dir, { recursive: true, force: true }));
      // The server runs in its own mount namespace, so mounts made there change nothing for the rest of the
      // machine and die with the process. The kernel refuses to remount a filesystem read-only while files on
      // it are open for writing (the database is), so a read-only bind mount is stacked over the data dir
      // instead: every new path lookup there (the probe file, a new upload) meets EROFS, while the database
      // descriptors opened before keep working. That is what this test proves: the check notices a data dir
      // that refuses new files, as after an ext4 errors=remount-ro or a read-only volume.
      const server = await startServe(["--data-dir", dir], { wrap: ["unshare", "--mount", "--propagation", "private"], expectKey: true });
      const inNamespace = (script: string) => {
        const r = Bun.spawnSync(["nsenter", "-t", String(server.pid), "-m", "sh", "-c", script, dir]);
        expect({ code: r.exitCode, err: r.stderr.toString() }).toEqual({ code: 0, err: "" });
      };
      const remount = (mode: "ro" | "rw") => inNamespace(mode === "ro" ? 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0"' : 'umount "$0"');
      try {
        expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
        remount("ro");
        const res = await fetch(`${server.url}/readyz`);
        expect(res.status).toBe(503);
        const body = (await res.json()) as any;
        expect(body).toEqual({
          error: "not_ready",
          message: "Not ready: data_dir: data dir is not writable (EROFS).",
          checks: { database: "ok", migrations: "ok", data_dir: "data dir is not writable (EROFS)" },
        });
        // Liveness is not readiness: the process is still up.
        expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
        remount("rw");
        expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
      } finally {
        server.proc.kill("SIGTERM");
        await server.exited;
      }
    },
  );

  test.if(!isRoot)("/readyz is 503 naming the data dir when it loses write permission (non-root: mode bits apply)", async () => {
    const env = await createSqliteTestEnv();
    try {
      chmodSync(env.dir, 0o500);
      const res = await env.request("/readyz");
      expect(res.status).toBe(503);
      expect(((await res.json()) as any).checks.data_dir).toBe("data dir is not writable (EACCES)");
    } finally {
      chmodSync(env.dir, 0o700);
      env.close();
    }
  });

  test("`clientcove healthcheck` (the container HEALTHCHECK) exits 0 against a ready server and 1 when nothing answers", async () => {
    const dir = tempDir("cc-hc");
    const server = await startServe(["--data-dir", dir], { expectKey: true });
    try {
      const port = new URL(server.url).port;
      const ok = await runCli(["healthcheck", "--port", port, "--host", "127.0.0.1"]);
      expect(ok).toEqual({ code: 0, stdout: "", stderr: "" });
      const viaEnv = await runCli(["healthcheck"], { CLIENTCOVE_PORT: port });
      expect(viaEnv.code).toBe(0);
    } finally {
      server.proc.kill("SIGTERM");
      expect(await server.exited).toBe(0);
      rmSync(dir, { recursive: true, force: true });
    }
    const down = await runCli(["healthcheck", "--url", server.url + "/readyz"]);
    expect(down.code).toBe(1);
    expect(down.stderr).toStartWith("not ready: ");
  });
});
