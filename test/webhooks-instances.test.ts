// Several dispatchers on one PostgreSQL database (two "instances", each with its own pool and LISTEN connection): every event delivered at least once, never two attempts of one delivery in flight at once, a dead instance's claims taken over when their lease ends.
import { afterAll, afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { Sql } from "postgres";
import { openPostgres, type PostgresHandle } from "../src/db/postgres/client";
import { migratePostgres } from "../src/db/postgres/migrate";
import { manualClock, systemClock, type Clock } from "../src/lib/clock";
import { newId } from "../src/lib/ids";
import { silentLogger } from "../src/lib/log";
import { postgresEngine } from "../src/stores";
import { createDispatcher, type Dispatcher, type DispatcherDeps, LEASE_MARGIN_MS, newInstanceId } from "../src/webhooks/dispatcher";
import { freshDatabase, postgresUrl } from "./services/postgres";
import { observeDispatch, receiverPool, stopDispatcher, until, type Received } from "./webhooks-fixtures";

// Real servers and pools on a loaded machine: room to spare (each test takes well under 2 s alone).
setDefaultTimeout(30_000);
// Prints one line saying why when there is no server (never a silent skip).
const base = await postgresUrl();

const CONFIG: DispatchConfig = {
  webhookTimeoutMs: 2000,
  webhookRetryBaseMs: 20,
  webhookAllowPrivate: true,
  webhookAllowCidrs: [],
  webhookConcurrency: 64,
  webhookOrgConcurrency: 16,
  webhookEndpointConcurrency: 2,
  retentionDays: 30,
};
type DispatchConfig = DispatcherDeps["config"];

describe.skipIf(!base)("webhook delivery with several instances on one PostgreSQL database", () => {
  const handles: PostgresHandle[] = [];
  const drops: (() => Promise<void>)[] = [];
  const dispatchers: { d: Dispatcher; clock: Clock }[] = [];
  const receivers = receiverPool();
  afterEach(async () => {
    await Promise.all(dispatchers.splice(0).map(({ d, clock }) => stopDispatcher(d, clock)));
    receivers.stopAll();
  });
  afterAll(async () => {
    await Promise.all(handles.splice(0).map((h) => h.close()));
    await Promise.all(drops.map((drop) => drop()));
  });

  /** A fresh, migrated database; `pool()` opens another pool on it (one per instance). */
  async function database() {
    const db = await freshDatabase();
    drops.push(db.drop);
    const pool = (): Sql => {
      const h = openPostgres({ url: db.url, poolSize: 4, statementTimeoutMs: 10_000 });
      handles.push(h);
      return h.sql;
    };
    const sql = pool();
    await migratePostgres(sql);
    return { sql, pool };
  }

  /** One instance: its own pool, engine (stores, writer, LISTEN signals) and dispatcher, started. */
  function instance(sql: Sql, clock: Clock = systemClock, config: Partial<DispatchConfig> = {}) {
    const engine = postgresEngine(sql);
    const d = createDispatcher({
      config: { ...CONFIG, ...config },
      stores: engine.stores,
      writer: engine.writer,
      signals: engine.signals,
      clock,
      log: silentLogger,
      instanceId: newInstanceId(),
      observe: observeDispatch,
    });
    dispatchers.push({ d, clock });
    d.start();
    return d;
  }

  async function seed(sql: Sql, urls: string[], now: number) {
    const orgId = newId("org");
    await sql`INSERT INTO orgs (id, name, plan, created_at) VALUES (${orgId}, 'Acme', 'pro', ${now})`;
    const hooks: string[] = [];
    for (const url of urls) {
      const id = newId("wh");
      await sql`INSERT INTO webhooks (id, org_id, url, events, secret, active, consecutive_failures, created_at, updated_at)
        VALUES (${id}, ${orgId}, ${url}, '["*"]', 'whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=', 1, 0, ${now}, ${now})`;
      hooks.push(id);
    }
    return { orgId, hooks };
  }

  test("two instances share the deliveries of many events: each delivered, never two attempts of one delivery at once, the endpoint limit held across them", async () => {
    const { sql, pool } = await database();
    // The receiver answers on the next turn (so attempts overlap), fails every third delivery's first attempt (so
    // retries are claimed again, by either instance), and checks that no delivery is in flight twice at once.
    const open = new Map<string, number>();
    const perEndpointOpen = new Map<string, number>();
    const violations: string[] = [];
    let maxPerEndpoint = 0;
    const seen = new Map<string, number>();
    const handler = async (r: Received) => {
      const id = r.headers["webhook-id"]!;
      const n = (seen.get(id) ?? 0) + 1;
      seen.set(id, n);
      if ((open.get(id) ?? 0) > 0) violations.push(`${id}: two attempts in flight at once`);
      open.set(id, (open.get(id) ?? 0) + 1);
      const endpoint = r.path;
      perEndpointOpen.set(endpoint, (perEndpointOpen.get(endpoint) ?? 0) + 1);
      maxPerEndpoint = Math.max(maxPerEndpoint, perEndpointOpen.get(endpoint)!);
      await new Promise((resolve) => setImmediate(resolve));
      open.set(id, open.get(id)! - 1);
      perEndpointOpen.set(endpoint, perEndpointOpen.get(endpoint)! - 1);
      const failFirst = id.charCodeAt(id.length - 1) % 3 === 0;
      return new Response(null, { status: failFirst && n === 1 ? 503 : 204 });
    };
    const r = receivers.start(handler);
    const { orgId, hooks } = await seed(sql, [`${r.url}/one`, `${r.url}/two`, `${r.url}/three`], Date.now());
    const a = instance(pool());
    const b = instance(pool());

    const EVENTS = 60;
    const engine = postgresEngine(sql);
    // Recorded in a few units, as requests to either instance would.
    for (let i = 0; i < EVENTS; i += 10) {
      await engine.writer.write(async (tx) => {
        for (let j = i; j < i + 10; j++) await tx.outbox.record({ type: "ticket.created", orgId, data: { n: j } }, Date.now());
      });
    }
    const want = EVENTS * hooks.length;
    await until(() => r.delivered.size === want, `${want} deliveries delivered`, 25_000);
    await until(async () => {
      const [row] = await sql<{ n: number }[]>`SELECT COUNT(*) AS n FROM webhook_deliveries WHERE status = 'succeeded'`;
      return row!.n === want;
    }, "every delivery recorded succeeded");

    expect(violations).toEqual([]);
    expect(maxPerEndpoint).toBeLessThanOrEqual(CONFIG.webhookEndpointConcurrency);
    // Every event reached every endpoint; each delivery's attempts are all logged, none superseded in this run.
    const [counts] = await sql<{ deliveries: number; attempts: number; claimed: number }[]>`
      SELECT (SELECT COUNT(*) FROM webhook_deliveries) AS deliveries, (SELECT COUNT(*) FROM webhook_attempts) AS attempts,
        (SELECT COUNT(*) FROM webhook_deliveries WHERE claimed_by IS NOT NULL) AS claimed`;
    expect(counts).toEqual({ deliveries: want, attempts: r.requests.length, claimed: 0 });
    // No attempt outlived its claim (a superseded attempt is logged without being counted).
    const uncounted = await sql`
      SELECT d.id FROM webhook_deliveries d WHERE d.attempt_count <> (SELECT COUNT(*) FROM webhook_attempts a WHERE a.delivery_id = d.id)`;
    expect(uncounted.map((x) => x.id)).toEqual([]);
    const [sum] = await sql<{ n: number }[]>`SELECT SUM(attempt_count)::bigint AS n FROM webhook_deliveries`;
    expect(sum!.n).toBe(r.requests.length);
    expect(a.inFlight() + b.inFlight()).toBe(0);
  });

  test("a crashed instance's claim is taken over by another once its lease ends, not before", async () => {
    const { sql, pool } = await database();
    const r = receivers.start();
    const clock = manualClock(Date.now());
    const { orgId, hooks } = await seed(sql, [r.url], clock.now());
    const id = newId("dlv");
    const now = clock.now();
    const leaseEnd = now + CONFIG.webhookTimeoutMs + LEASE_MARGIN_MS;
    // As a dead instance left it: claimed, its attempt never recorded.
    await sql`INSERT INTO webhook_deliveries (id, org_id, webhook_id, event_id, event_type, payload, status, attempt_count, max_attempts,
        next_attempt_at, created_at, updated_at, claimed_by, claimed_until)
      VALUES (${id}, ${orgId}, ${hooks[0]!}, ${newId("evt")}, 'ticket.created', '{}', 'pending', 0, 4, ${now}, ${now}, ${now}, 'inst_dead', ${leaseEnd})`;
    const b = instance(pool(), clock);
    // It finds the delivery held and sleeps until the lease ends.
    await b.settled();
    expect(b.nextWake()).toBe(leaseEnd);
    expect(r.requests).toHaveLength(0);
    clock.advance(leaseEnd - 1 - clock.now());
    await b.settled();
    expect(r.requests).toHaveLength(0);
    clock.advance(1);
    await until(() => r.delivered.has(id), "the delivery, taken over");
    await until(async () => (await sql`SELECT status FROM webhook_deliveries WHERE id = ${id}`)[0]?.status === "succeeded", "its outcome recorded");
    const [row] = await sql`SELECT attempt_count, claimed_by, claimed_until FROM webhook_deliveries WHERE id = ${id}`;
    expect({ ...row }).toEqual({ attempt_count: 1, claimed_by: null, claimed_until: null });
  });
});
