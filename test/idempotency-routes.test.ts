// Idempotency-Key on every POST the app registers (driven by its own route list and the route matrix's fixtures), the
// decision rule as a table, and the plugin refusing a POST handler that never commits.
import { afterEach, describe, expect, test } from "bun:test";
import { Elysia } from "elysia";
import { authPlugin } from "../src/auth/plugin";
import { idempotencyPlugin, releaseIdempotencyKey } from "../src/idempotency/plugin";
import { decide, IDEMPOTENCY_TTL_MS, requestFingerprint, type KeyRow } from "../src/idempotency/service";
import { manualClock } from "../src/lib/clock";
import { BOUNDARY, listObjects, multipartBody } from "./files-fixtures";
import { createTestEnv, type TestEnv } from "./helpers";
import { fillPath, ROUTE_MATRIX, routeShape, storedStateOfAll, type MatrixRoute } from "./route-matrix";

let env: TestEnv | undefined;
afterEach(() => {
  env?.close();
  env = undefined;
});

/** The app's POST routes under /v1, as it registers them. */
async function postRoutes(): Promise<string[]> {
  const probe = await createTestEnv();
  try {
    return probe.app.routes.filter((r) => r.method === "POST" && r.path.startsWith("/v1/")).map((r) => `${r.method} ${r.path}`);
  } finally {
    probe.close();
  }
}

function send(e: TestEnv, route: MatrixRoute, path: string, key: string, idem: string): Promise<Response> {
  const headers = new Headers({ authorization: `Bearer ${key}`, "idempotency-key": idem });
  let body: RequestInit["body"];
  if (route.body) {
    const made = route.body();
    body = made.body;
    for (const [k, v] of Object.entries(made.headers ?? {})) headers.set(k, v);
  } else if (route.json !== undefined) {
    body = JSON.stringify(route.json);
    headers.set("content-type", "application/json");
  }
  return e.request(path, { method: route.method, headers, body });
}

const posts = await postRoutes();

describe("every POST under /v1 replays its first answer", () => {
  test("the app has the POST routes this suite expects to find (the list is not empty)", () => {
    expect(posts.length).toBeGreaterThanOrEqual(7);
  });

  for (const label of posts) {
    test(`${label}: the retry gets the same status, Location and body, marked replayed, and changes nothing`, async () => {
      const [method, path] = label.split(" ") as [string, string];
      const found = Object.values(ROUTE_MATRIX)
        .flatMap((spec) => spec.routes.map((route) => ({ spec, route })))
        .find((r) => routeShape(r.route.method, r.route.path) === routeShape(method, path));
      expect(found, `${label} has no row in test/route-matrix.ts to build its request from`).toBeDefined();
      const { spec, route } = found!;
      const clock = manualClock(Date.UTC(2026, 1, 25, 14, 30));
      env = await createTestEnv({ clock, config: spec.config });
      const a = await env.org("Org A", "pro");
      const b = await env.org("Org B", "enterprise");
      const seed = await spec.seed({ env, clock, a, b });
      const url = fillPath(route.path, seed);

      const first = await send(env, route, url, a.key, "once");
      const firstBody = await first.text();
      expect(first.status >= 200 && first.status < 300, `${label} answered ${first.status}: ${firstBody}`).toBe(true);
      expect(first.headers.get("idempotent-replayed")).toBeNull();
      const after = await storedStateOfAll(env);

      const again = await send(env, route, url, a.key, "once");
      expect(again.status).toBe(first.status);
      expect(again.headers.get("idempotent-replayed")).toBe("true");
      expect(again.headers.get("location")).toBe(first.headers.get("location"));
      expect(again.headers.get("content-type")).toStartWith("application/json");
      expect(await again.json()).toEqual(JSON.parse(firstBody));
      // Rows, events, idempotency answers and stored bytes: exactly as the first request left them.
      expect(await storedStateOfAll(env)).toEqual(after);
    });
  }
});

describe("uploads: the change and its stored answer commit together", () => {
  test("an upload whose answer cannot be stored leaves no row, event or bytes; its key is free and the retry stores one file", async () => {
    env = await createTestEnv();
    const { key } = await env.org("Acme");
    const send = () =>
      env!.request("/v1/files", {
        method: "POST",
        key,
        headers: { "content-type": `multipart/form-data; boundary=${BOUNDARY}`, "idempotency-key": "upload-once" },
        body: multipartBody([{ name: "file", filename: "a.txt", content: "exactly once" }]),
      });
    const db = env.db;
    const count = async (table: string) => (await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`))!.n;
    // Storing the answer fails (a trigger refuses it), as a crash between the upload and the answer's row would.
    const refuse =
      env.engine === "sqlite"
        ? [`CREATE TRIGGER refuse_answer BEFORE UPDATE OF response_status ON idempotency_keys BEGIN SELECT RAISE(ABORT, 'simulated crash'); END`]
        : [
            `CREATE FUNCTION refuse_answer() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'simulated crash'; END $$`,
            `CREATE TRIGGER refuse_answer BEFORE UPDATE OF response_status ON idempotency_keys FOR EACH ROW EXECUTE FUNCTION refuse_answer()`,
          ];
    const allow =
      env.engine === "sqlite" ? ["DROP TRIGGER refuse_answer"] : ["DROP TRIGGER refuse_answer ON idempotency_keys", "DROP FUNCTION refuse_answer()"];
    for (const s of refuse) await db.run(s);
    try {
      expect((await send()).status).toBe(500);
      expect([await count("files"), await count("events"), await count("idempotency_keys")]).toEqual([0, 0, 0]);
      expect(listObjects(env.dir)).toEqual([]);
    } finally {
      // The pooled PostgreSQL database outlives this env: the trigger must not.
      for (const s of allow) await db.run(s);
    }
    const first = await send();
    expect(first.status).toBe(201);
    const again = await send();
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.headers.get("location")).toBe(first.headers.get("location"));
    expect(await count("files")).toBe(1);
    expect(listObjects(env.dir).length).toBe(1);
  });
});

describe("a change that awaits before it writes (webhook registration)", () => {
  test("refused after the claim, it releases its key: the corrected request runs under the same key, then replays", async () => {
    env = await createTestEnv();
    const { key } = await env.org("Acme");
    const register = (url: string) =>
      env!.request("/v1/webhooks", { method: "POST", key, json: { url, events: ["*"] }, headers: { "idempotency-key": "hook-1" } });
    // A loopback address is refused by the SSRF guard, in the service, after the key was claimed.
    expect((await register("http://127.0.0.1:9/hook")).status).toBe(400);
    expect(await env.db.get("SELECT COUNT(*) AS n FROM idempotency_keys")).toEqual({ n: 0 });
    const created = await register("http://93.184.216.34/hook");
    expect(created.status).toBe(201);
    const again = await register("http://93.184.216.34/hook");
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(await again.json()).toEqual(await created.json());
    expect(await env.db.get("SELECT COUNT(*) AS n FROM webhooks")).toEqual({ n: 1 });
  });
});

describe("decide: the one rule", () => {
  const now = Date.UTC(2026, 5, 1);
  const fp = requestFingerprint("POST", "/v1/tickets", { subject: "x" });
  const other = requestFingerprint("POST", "/v1/tickets", { subject: "y" });
  const running = (fingerprint: string, age = 0): KeyRow => ({
    fingerprint,
    response_status: null,
    response_headers: null,
    response_body: null,
    created_at: now - age,
  });
  const answered = (fingerprint: string, age = 0): KeyRow => ({
    fingerprint,
    response_status: 201,
    response_headers: JSON.stringify({ location: "http://x/v1/tickets/tkt_1" }),
    response_body: '{"id":"tkt_1"}',
    created_at: now - age,
  });
  const cases: [string, KeyRow | null, string | null, string][] = [
    ["no row", null, fp, "new"],
    ["no row, fingerprint not known yet (upload before its body)", null, null, "new"],
    ["the same request answered", answered(fp), fp, "replay"],
    ["another request answered", answered(fp), other, "reused"],
    ["answered, fingerprint not known yet", answered(fp), null, "unknown_yet"],
    ["the same request still running", running(fp), fp, "in_progress"],
    ["another request while one runs", running(fp), other, "reused"],
    ["an upload still reading its body, any request", running("pending:abc"), other, "in_progress"],
    ["running, fingerprint not known yet", running(fp), null, "in_progress"],
    ["answered 24 h ago: expired", answered(fp, IDEMPOTENCY_TTL_MS + 1), other, "new"],
    ["a claim left 24 h ago: expired", running(fp, IDEMPOTENCY_TTL_MS + 1), fp, "new"],
  ];
  for (const [name, row, fingerprint, kind] of cases) {
    test(`${name} → ${kind}`, () => {
      const d = decide(row, fingerprint, now);
      expect(d.kind).toBe(kind as typeof d.kind);
      if (d.kind === "replay") expect(d.answer).toEqual({ status: 201, headers: { location: "http://x/v1/tickets/tkt_1" }, body: '{"id":"tkt_1"}' });
    });
  }
});

describe("the plugin", () => {
  test("a POST handler that returns without idempotent.commit is a 500, and its key is released", async () => {
    env = await createTestEnv();
    const { key } = await env.org("Acme");
    const guard = idempotencyPlugin({ auth: authPlugin(env.deps), store: env.deps.stores.idempotency, clock: env.deps.clock });
    const app = new Elysia()
      // As the app's error hook: the answer waits for the release (on PostgreSQL a real round trip).
      .onError(async (ctx) => {
        await releaseIdempotencyKey(ctx);
        return new Response(null, { status: 500 });
      })
      .use(new Elysia({ prefix: "/v1" }).use(guard).post("/forgot", () => ({ ok: true })));
    const r = await app.handle(
      new Request("http://localhost/v1/forgot", { method: "POST", headers: { authorization: `Bearer ${key}`, "idempotency-key": "k" } }),
    );
    expect(r.status).toBe(500);
    expect(await env.db.get("SELECT COUNT(*) AS n FROM idempotency_keys")).toEqual({ n: 0 });
  });
});
