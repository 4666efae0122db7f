// The guard across instances on one PostgreSQL database: rate limits shared (or per instance), and idempotency claims of a dead instance taken over once its heartbeat is old.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import type { Sql } from "postgres";
import { buildApp, type App } from "../src/app";
import { loadConfig, type Config } from "../src/config";
import { openPostgres } from "../src/db/postgres/client";
import { migratePostgres } from "../src/db/postgres/migrate";
import { buildDeps, type Deps } from "../src/deps";
import { loadDatabaseDownloadKey } from "../src/files/signed-url";
import { createTokenBuckets } from "../src/guard/token-bucket";
import { postgresTokenBuckets } from "../src/guard/token-bucket-postgres";
import { INSTANCE_DEAD_AFTER_MS, startInstanceHeartbeat, type InstanceHeartbeat } from "../src/idempotency/instances-postgres";
import { ABANDONED_CLAIM_MS, requestFingerprint } from "../src/idempotency/service";
import { manualClock, type ManualClock } from "../src/lib/clock";
import { silentLogger } from "../src/lib/log";
import { createKey } from "../src/keys/service";
import { createOrg } from "../src/orgs/service";
import { tempDir } from "./helpers";
import { freshDatabase, postgresUrl } from "./services/postgres";

// Prints one line saying why when there is no server (never a silent skip).
const base = await postgresUrl();
if (!base) process.stderr.write("test/guard-instances.test.ts: skipped (no PostgreSQL server; see the line above)\n");
const describePg = base ? describe : describe.skip;

let url = "";
let drop: (() => Promise<void>) | undefined;
beforeAll(async () => {
  if (!base) return;
  const db = await freshDatabase();
  url = db.url;
  drop = db.drop;
  const { sql } = openPostgres({ url, poolSize: 1, statementTimeoutMs: 30_000 });
  await migratePostgres(sql);
  await sql.end();
});
afterAll(async () => {
  await drop?.();
});

/** One instance: its own pool, clock, config and app on the shared database, built as serve builds them. */
interface Instance {
  sql: Sql;
  clock: ManualClock;
  deps: Deps;
  app: App;
  heartbeat?: InstanceHeartbeat;
  request(path: string, init?: { key: string; method?: string; json?: unknown; headers?: Record<string, string> }): Promise<Response>;
}

const open: Instance[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const i of open.splice(0)) {
    await i.heartbeat?.stop().catch(() => {});
    await i.sql.end({ timeout: 5 });
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  if (!base) return;
  const { sql } = openPostgres({ url, poolSize: 1, statementTimeoutMs: 30_000 });
  await sql`TRUNCATE orgs, users, api_keys, tickets, ticket_counts, events, idempotency_keys, instances, rate_limits CASCADE`;
  await sql.end();
});

async function instance(opts: { config?: Partial<Config>; heartbeat?: string } = {}): Promise<Instance> {
  const dir = tempDir("cc-instances");
  dirs.push(dir);
  const flags = { "data-dir": dir, "log-level": "silent", "database-url": url, "auth-failures-per-minute": "0" };
  const config = { ...loadConfig(flags, {}).config, ...opts.config };
  const { sql } = openPostgres({ url, poolSize: 4, statementTimeoutMs: 30_000 });
  const clock = manualClock();
  const deps = buildDeps({ config, postgres: { sql, downloadKey: await loadDatabaseDownloadKey(sql) }, clock, log: silentLogger });
  const heartbeat = opts.heartbeat ? await startInstanceHeartbeat({ sql, clock, id: opts.heartbeat }) : undefined;
  const app = buildApp(deps);
  await app.modules;
  const it: Instance = {
    sql,
    clock,
    deps,
    app,
    heartbeat,
    request(path, init) {
      const headers: Record<string, string> = { authorization: `Bearer ${init?.key}`, ...init?.headers };
      if (init?.json !== undefined) headers["content-type"] = "application/json";
      const body = init?.json === undefined ? undefined : JSON.stringify(init.json);
      return app.handle(new Request(`http://localhost${path}`, { method: init?.method ?? "GET", headers, body }));
    },
  };
  open.push(it);
  return it;
}

/** A pro organization with an API key, made through the services on `i`'s database; returns the key's secret. */
async function orgWithKey(i: Instance, name: string): Promise<string> {
  const { org } = await createOrg(i.deps, { name, plan: "pro", ownerEmail: `owner@${name.toLowerCase()}.test` });
  return (await createKey(i.deps, { orgId: org.id })).key;
}

/** Status and RateLimit-* headers of one request, as a row. */
async function limited(i: Instance, key: string) {
  const r = await i.request("/v1/tickets", { key });
  await r.arrayBuffer();
  return {
    status: r.status,
    limit: r.headers.get("ratelimit-limit"),
    remaining: r.headers.get("ratelimit-remaining"),
    retryAfter: r.headers.get("retry-after"),
  };
}

describePg("rate limits across instances (--rate-limit-scope cluster)", () => {
  const LIMITS = { rateLimitPerMinute: 60, rateLimitBurst: 3, rateLimitScope: "cluster" as const };

  test("one key alternating between two instances spends one budget: the 429 comes on the sum, headers count both", async () => {
    const a = await instance({ config: LIMITS });
    const b = await instance({ config: LIMITS });
    const key = await orgWithKey(a, "Acme");
    const seen = [await limited(a, key), await limited(b, key), await limited(a, key), await limited(b, key)];
    expect(seen).toEqual([
      { status: 200, limit: "3", remaining: "2", retryAfter: null },
      { status: 200, limit: "3", remaining: "1", retryAfter: null },
      { status: 200, limit: "3", remaining: "0", retryAfter: null },
      { status: 429, limit: "3", remaining: "0", retryAfter: "1" },
    ]);
    // 60 per minute: one token a second, whichever instance's clock says so.
    a.clock.advance(1000);
    b.clock.advance(1000);
    expect(await limited(b, key)).toEqual({ status: 200, limit: "3", remaining: "0", retryAfter: null });
    expect(await limited(a, key)).toEqual({ status: 429, limit: "3", remaining: "0", retryAfter: "1" });
  });

  test("concurrent requests on two instances: exactly the burst is let through", async () => {
    const config = { rateLimitPerMinute: 1, rateLimitBurst: 10, rateLimitScope: "cluster" as const };
    const a = await instance({ config });
    const b = await instance({ config });
    const key = await orgWithKey(a, "Acme");
    const statuses = await Promise.all(Array.from({ length: 30 }, (_, n) => limited(n % 2 ? a : b, key).then((r) => r.status)));
    expect(statuses.filter((s) => s === 200).length).toBe(10);
    expect(statuses.filter((s) => s === 429).length).toBe(20);
  });

  test("keys are limited independently, and a rate-limited create makes no ticket", async () => {
    const config = { rateLimitPerMinute: 1, rateLimitBurst: 1, rateLimitScope: "cluster" as const };
    const a = await instance({ config });
    const b = await instance({ config });
    const acme = { key: await orgWithKey(a, "Acme") };
    const beta = { key: await orgWithKey(a, "Beta") };
    const create = (i: Instance, key: string, subject: string) => i.request("/v1/tickets", { key, method: "POST", json: { subject } }).then((r) => r.status);
    expect(await create(a, acme.key, "one")).toBe(201);
    expect(await create(b, acme.key, "two")).toBe(429);
    expect(await create(b, beta.key, "three")).toBe(201);
    expect((await a.sql`SELECT subject FROM tickets ORDER BY subject`).map((r) => r.subject)).toEqual(["one", "three"]);
  });

  test("the shared bucket gives exactly the in-memory bucket's numbers for the same history", async () => {
    const a = await instance();
    const shape = { perMinute: 7, burst: 4 };
    const memory = createTokenBuckets({ ...shape, clock: a.clock });
    const shared = postgresTokenBuckets({ ...shape, sql: a.sql, name: "same", clock: a.clock });
    // Takes and waits that leave fractional tokens, an empty bucket, partial refills and a full one.
    const steps = [0, 0, 0, 0, 0, 1_234, 0, 8_571, 3, 0, 0, 60_000, 0, 17, 4_999, 0];
    for (const wait of steps) {
      a.clock.advance(wait);
      expect(await shared.take("k")).toEqual(memory.take("k"));
    }
  });

  test("takes of one key arriving together go as one statement and get what the same takes in a row would", async () => {
    const a = await instance();
    const shape = { perMinute: 60, burst: 5 };
    const memory = createTokenBuckets({ ...shape, clock: a.clock });
    const shared = postgresTokenBuckets({ ...shape, sql: a.sql, name: "group", clock: a.clock });
    for (const [wait, n] of [
      [0, 3],
      [0, 4],
      [2_500, 6],
      [0, 1],
    ] as const) {
      a.clock.advance(wait);
      const together = await Promise.all(Array.from({ length: n }, () => shared.take("k")));
      expect(together).toEqual(Array.from({ length: n }, () => memory.take("k")));
    }
  });

  test("with --rate-limit-scope instance (the default) each instance has its own bucket", async () => {
    const config = { rateLimitPerMinute: 60, rateLimitBurst: 3 };
    const a = await instance({ config });
    const b = await instance({ config });
    const key = await orgWithKey(a, "Acme");
    const statuses = [];
    for (let n = 0; n < 4; n++) statuses.push((await limited(a, key)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(await limited(b, key)).toEqual({ status: 200, limit: "3", remaining: "2", retryAfter: null });
    expect((await a.sql`SELECT count(*) AS n FROM rate_limits`)[0]!.n).toBe(0);
  });

  test("failed authentications are counted per address across instances too", async () => {
    const config = { authFailuresPerMinute: 2, trustProxy: true, rateLimitScope: "cluster" as const };
    const a = await instance({ config });
    const b = await instance({ config });
    const bad = (i: Instance) => i.request("/v1/tickets", { key: `cc_${"x".repeat(40)}`, headers: { "x-forwarded-for": "203.0.113.7" } }).then((r) => r.status);
    expect([await bad(a), await bad(b), await bad(a), await bad(b)]).toEqual([401, 401, 429, 429]);
  });
});

describePg("idempotency claims of a dead instance (owners and heartbeats)", () => {
  const fingerprint = requestFingerprint("POST", "/v1/tickets", { subject: "Printer on fire" });
  const retry = (i: Instance, key: string) =>
    i.request("/v1/tickets", { key, method: "POST", json: { subject: "Printer on fire" }, headers: { "idempotency-key": "order-42" } });

  /** Instance A claims the key as its request would, mid-request; returns A, B and the key. */
  async function claimedByA() {
    const a = await instance({ heartbeat: "inst_a" });
    const b = await instance({ heartbeat: "inst_b" });
    const key = await orgWithKey(a, "Acme");
    const [{ id: keyId }] = await a.sql<{ id: string }[]>`SELECT id FROM api_keys`;
    await a.deps.stores.idempotency.claim({ keyId: keyId!, idempotencyKey: "order-42" }, fingerprint, a.clock.now());
    expect((await a.sql`SELECT owner FROM idempotency_keys`).map((r) => r.owner)).toEqual(["inst_a"]);
    return { a, b, key, keyId: keyId! };
  }

  /** Moves a live instance's clock on by `ms`: its heartbeat timer fires on the way, and the last beat is written. */
  async function live(i: Instance, ms: number) {
    i.clock.advance(ms);
    await i.heartbeat!.idle();
  }

  test("the owner dies (stops beating): a retry on another instance is 409 until the bound, then runs once and is replayed", async () => {
    const { b, key } = await claimedByA();
    // A's clock stands still: no more heartbeats from A. B lives on.
    await live(b, INSTANCE_DEAD_AFTER_MS);
    const early = await retry(b, key);
    expect(early.status).toBe(409);
    expect(((await early.json()) as { error: string }).error).toBe("idempotency_in_progress");
    await live(b, 1);
    const taken = await retry(b, key);
    expect(taken.status).toBe(201);
    const created = await taken.json();
    expect((await b.sql`SELECT owner, response_status FROM idempotency_keys`).map((r) => ({ ...r }))).toEqual([{ owner: "inst_b", response_status: 201 }]);
    const again = await retry(b, key);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(await again.json()).toEqual(created);
    expect((await b.sql`SELECT count(*) AS n FROM tickets`)[0]!.n).toBe(1);
  });

  test("a live owner's claim is never taken over, however long its request runs", async () => {
    const { a, b, key, keyId } = await claimedByA();
    // Both instances live on, past the bound, then past the hour an unowned claim is kept.
    for (const ms of [INSTANCE_DEAD_AFTER_MS + 1, ABANDONED_CLAIM_MS]) {
      await live(a, ms);
      await live(b, ms);
      expect((await retry(b, key)).status).toBe(409);
    }
    expect(await b.deps.stores.idempotency.releaseAbandoned(b.clock.now() - ABANDONED_CLAIM_MS, b.clock.now())).toBe(0);
    // A's request answers at last: the retry gets that answer.
    await a.deps.stores.idempotency.saveAnswer({ keyId, idempotencyKey: "order-42" }, { status: 201, headers: {}, body: '{"id":"tkt_x"}' });
    const replay = await retry(b, key);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await replay.text()).toBe('{"id":"tkt_x"}');
  });

  test("twins retrying on two instances after the owner died: exactly one takes the claim over", async () => {
    const { b, key } = await claimedByA();
    const c = await instance({ heartbeat: "inst_c" });
    await live(b, INSTANCE_DEAD_AFTER_MS + 1);
    await live(c, INSTANCE_DEAD_AFTER_MS + 1);
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, n) => retry(n % 2 ? b : c, key).then((r) => (r.headers.get("idempotent-replayed") ? "replay" : r.status))),
    );
    // One ran; each other twin arrived while it ran (409) or after it answered (the replay).
    expect(answers.filter((s) => s === 201).length).toBe(1);
    expect(answers.filter((s) => s !== 201 && s !== 409 && s !== "replay")).toEqual([]);
    expect((await b.sql`SELECT count(*) AS n FROM tickets`)[0]!.n).toBe(1);
  });

  test("an owner stopped cleanly releases its claims at once; an instance starting releases a dead owner's", async () => {
    const { a, b, key, keyId } = await claimedByA();
    await a.heartbeat!.stop();
    expect((await retry(b, key)).status).toBe(201);
    // A claim of another dead instance, released by the start-up sweep (as serve calls it) rather than a retry.
    const dead = await instance({ heartbeat: "inst_dead" });
    await dead.deps.stores.idempotency.claim({ keyId, idempotencyKey: "other" }, fingerprint, dead.clock.now());
    await live(b, INSTANCE_DEAD_AFTER_MS + 1);
    const now = b.clock.now();
    expect(await b.deps.stores.idempotency.releaseAbandoned(now - ABANDONED_CLAIM_MS, now)).toBe(1);
    expect((await b.sql`SELECT idempotency_key FROM idempotency_keys`).map((r) => r.idempotency_key)).toEqual(["order-42"]);
  });

  test("an app without a heartbeat claims without an owner: such a claim is kept for the hour, as before", async () => {
    const a = await instance();
    const b = await instance({ heartbeat: "inst_b" });
    const key = await orgWithKey(a, "Acme");
    const [{ id: keyId }] = await a.sql<{ id: string }[]>`SELECT id FROM api_keys`;
    await a.deps.stores.idempotency.claim({ keyId: keyId!, idempotencyKey: "order-42" }, fingerprint, a.clock.now());
    expect((await a.sql`SELECT owner FROM idempotency_keys`).map((r) => r.owner)).toEqual([null]);
    await live(b, INSTANCE_DEAD_AFTER_MS * 4);
    expect((await retry(b, key)).status).toBe(409);
  });
});
