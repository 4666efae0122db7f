// Idempotency-Key on POST: replay the stored result, refuse reuse with another body, refuse concurrency, expire after 24 h.
import { afterEach, describe, expect, test } from "bun:test";
import { manualClock } from "../src/lib/clock";
import { requestFingerprint } from "../src/idempotency/service";
import { createTestEnv, startServerProcess, runCli, tempDir, type TestEnv } from "./helpers";

let env: TestEnv | undefined;
afterEach(() => {
  env?.close();
  env = undefined;
});

async function ticketCount(e: TestEnv): Promise<number> {
  return ((await e.db.get("SELECT COUNT(*) AS n FROM tickets")) as { n: number }).n;
}

const create = (e: TestEnv, key: string, body: unknown, idem?: string) =>
  e.request("/v1/tickets", { key, method: "POST", json: body, headers: idem === undefined ? {} : { "idempotency-key": idem } });

describe("Idempotency-Key", () => {
  test("a retried create replays the first response (status, body, Location) and makes one ticket", async () => {
    env = await createTestEnv();
    const a = await env.org("Acme");
    const first = await create(env, a.key, { subject: "Printer on fire", priority: "urgent" }, "retry-1");
    const firstBody = await first.json();
    expect(first.status).toBe(201);
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    // Key order does not matter: the same request, serialized differently.
    const second = await create(env, a.key, { priority: "urgent", subject: "Printer on fire" }, "retry-1");
    expect(second.status).toBe(201);
    expect(second.headers.get("idempotent-replayed")).toBe("true");
    expect(second.headers.get("location")).toBe(first.headers.get("location"));
    expect(await second.json()).toEqual(firstBody);
    expect(await ticketCount(env)).toBe(1);
    expect(await env.db.get("SELECT COUNT(*) AS n FROM events WHERE type = 'ticket.created'")).toEqual({ n: 1 });
  });

  test("the same key with a different body is 422 idempotency_key_reused and creates nothing", async () => {
    env = await createTestEnv();
    const a = await env.org("Acme");
    expect((await create(env, a.key, { subject: "one" }, "k")).status).toBe(201);
    const reused = await create(env, a.key, { subject: "two" }, "k");
    expect(reused.status).toBe(422);
    expect(((await reused.json()) as any).error).toBe("idempotency_key_reused");
    expect(await ticketCount(env)).toBe(1);
  });

  test("while the first request is still running, a second one is 409 idempotency_in_progress", async () => {
    env = await createTestEnv();
    const a = await env.org("Acme");
    const keyId = ((await env.db.get("SELECT id FROM api_keys")) as { id: string }).id;
    // Claim the key exactly as a request that has not finished yet would.
    await env.deps.stores.idempotency.claim({ keyId, idempotencyKey: "busy" }, requestFingerprint("POST", "/v1/tickets", { subject: "x" }), env.clock.now());
    const r = await create(env, a.key, { subject: "x" }, "busy");
    expect(r.status).toBe(409);
    expect(((await r.json()) as any).error).toBe("idempotency_in_progress");
    expect(await ticketCount(env)).toBe(0);
  });

  test("keys are scoped to the API key: another key may use the same Idempotency-Key", async () => {
    env = await createTestEnv();
    const a = await env.org("Acme");
    const b = await env.org("Beta");
    expect((await create(env, a.key, { subject: "same" }, "shared")).status).toBe(201);
    const other = await create(env, b.key, { subject: "same" }, "shared");
    expect(other.status).toBe(201);
    expect(other.headers.get("idempotent-replayed")).toBeNull();
    expect(await ticketCount(env)).toBe(2);
  });

  test("a request that failed in its handler releases the key, so the corrected retry runs", async () => {
    env = await createTestEnv();
    const a = await env.org("Acme");
    const bad = await create(env, a.key, { subject: "   " }, "fix-me"); // passes the schema, refused by the service
    expect(bad.status).toBe(400);
    const good = await create(env, a.key, { subject: "fixed" }, "fix-me");
    expect(good.status).toBe(201);
    expect(good.headers.get("idempotent-replayed")).toBeNull();
  });

  test("a malformed Idempotency-Key is a 400 in the shared shape", async () => {
    env = await createTestEnv();
    const a = await env.org("Acme");
    for (const bad of ["", "x".repeat(256), "tab\tinside", "é"]) {
      const r = await create(env, a.key, { subject: "x" }, bad);
      expect(r.status).toBe(400);
      const body: any = await r.json();
      expect(body.error).toBe("validation_error");
      expect(body.details).toEqual([{ field: "Idempotency-Key", message: expect.any(String) }]);
    }
    expect(await ticketCount(env)).toBe(0);
  });

  test("results are remembered for 24 hours, then the key is free again", async () => {
    const clock = manualClock(Date.UTC(2026, 5, 1));
    env = await createTestEnv({ clock });
    const a = await env.org("Acme");
    expect((await create(env, a.key, { subject: "day one" }, "daily")).status).toBe(201);
    clock.advance(23 * 3_600_000);
    expect((await create(env, a.key, { subject: "day one" }, "daily")).headers.get("idempotent-replayed")).toBe("true");
    clock.advance(2 * 3_600_000);
    const fresh = await create(env, a.key, { subject: "day one" }, "daily");
    expect(fresh.status).toBe(201);
    expect(fresh.headers.get("idempotent-replayed")).toBeNull();
    expect(await ticketCount(env)).toBe(2);
  });

  test("requests without the header are not affected, and GET ignores it", async () => {
    env = await createTestEnv();
    const a = await env.org("Acme");
    await create(env, a.key, { subject: "a" });
    await create(env, a.key, { subject: "a" });
    expect(await ticketCount(env)).toBe(2);
    const list = await env.request("/v1/tickets", { key: a.key, headers: { "idempotency-key": "whatever" } });
    expect(list.status).toBe(200);
  });
});

describe("after a crash", () => {
  test("a claim left by a dead process is released at the next start", async () => {
    const dir = tempDir("idem");
    expect(runCli(["migrate", "--data-dir", dir]).code).toBe(0);
    const org = JSON.parse(runCli(["orgs", "create", "--name", "Acme", "--json", "--data-dir", dir]).stdout);
    const key = JSON.parse(runCli(["keys", "create", "--org", org.id, "--json", "--data-dir", dir]).stdout);
    const { Database } = await import("bun:sqlite");
    const db = new Database(`${dir}/clientcove.db`);
    db.run(`INSERT INTO idempotency_keys (key_id, idempotency_key, fingerprint, created_at) VALUES (?, 'orphan', 'f', ?)`, [key.id, Date.now()]);
    db.close();
    const server = await startServerProcess(["--data-dir", dir, "--port", "0", "--host", "127.0.0.1"]);
    try {
      const r = await fetch(`${server.url}/v1/tickets`, {
        method: "POST",
        headers: { authorization: `Bearer ${key.key}`, "content-type": "application/json", "idempotency-key": "orphan" },
        body: JSON.stringify({ subject: "after restart" }),
      });
      expect(r.status).toBe(201);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });
});
