// The scheduler, on a manual clock: concurrency limits (per endpoint and per organization, round-robin between organizations) keep a dead endpoint from delaying others, the per-organization webhook limit, the clock's timer sleeps until the next due attempt, graceful stop leaves the rest pending.
import { afterEach, describe, expect, test } from "bun:test";
import { manualClock, type ManualClock } from "../src/lib/clock";
import { createDispatcher } from "../src/webhooks/dispatcher";
import { ON_POSTGRES } from "./helpers";
import { dispatcherDeps, hang, observeDispatch, stopDispatcher, until, webhookEnv, type WebhookEnv, receiverPool } from "./webhooks-fixtures";

let w: WebhookEnv;
let clock: ManualClock;
const receivers = receiverPool();
const receiver = receivers.start;

afterEach(async () => {
  await w?.close();
  receivers.stopAll();
});

async function env(opts: Omit<NonNullable<Parameters<typeof webhookEnv>[0]>, "clock"> = {}): Promise<WebhookEnv> {
  clock = manualClock();
  return await webhookEnv({ ...opts, clock, dispatcher: { random: () => 0.5, ...opts.dispatcher } });
}

async function count(sql: string, ...args: string[]): Promise<number> {
  return ((await w.env.db.get(sql, ...args)) as { n: number }).n;
}

describe("concurrency", () => {
  test("a hanging endpoint holds at most its own slots: another endpoint gets every event meanwhile", async () => {
    w = await env({ config: { webhookTimeoutMs: 30_000, webhookConcurrency: 5, webhookEndpointConcurrency: 4 } });
    const dead = receiver(() => hang());
    const live = receiver();
    const deadHook = await w.register(dead.url, ["ticket.created"]);
    const liveHook = await w.register(live.url, ["ticket.created"]);
    for (let i = 0; i < 12; i++) await w.createTicket(`Ticket ${i}`);
    await until(
      async () =>
        live.delivered.size === 12 &&
        (await count("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE webhook_id = ? AND status = 'succeeded'", liveHook.id)) === 12,
      "all 12 deliveries at the live endpoint, recorded",
    );
    // The dead endpoint has exactly its 4 slots on the wire and nothing has come back from it; the
    // dispatcher has nothing left to do until one of them ends.
    await until(() => dead.requests.length === 4, "the dead endpoint's 4 attempts");
    await w.dispatcher.settled();
    expect(w.dispatcher.inFlight()).toBe(4);
    expect(dead.requests.length).toBe(4);
    expect(await count("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE webhook_id = ? AND status = 'pending' AND attempt_count = 0", deadHook.id)).toBe(12);
    expect(await count("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE webhook_id = ? AND status = 'succeeded'", liveHook.id)).toBe(12);
  });
});

describe("timers, not polling", () => {
  // SQLite only for now: `idle()` waits for the in-process wake-up; on PostgreSQL it is a NOTIFY heard on the
  // dispatcher's own connection, which the fixture cannot await yet (the assertions would race it).
  test.skipIf(ON_POSTGRES)("the dispatcher sleeps on the clock's timer until the next due retry, and not at all when nothing is due", async () => {
    w = await env({ config: { webhookRetryBaseMs: 60_000 } });
    let fail = true;
    const r = receiver(() => new Response(null, { status: fail ? 500 : 204 }));
    const hook = await w.register(r.url);
    expect(w.dispatcher.nextWake()).toBeNull();
    expect(clock.nextTimer()).toBeNull();
    const t0 = clock.now();
    await w.createTicket();
    await w.idle();
    const row = (await w.env.db.get("SELECT next_attempt_at AS at, attempt_count AS n FROM webhook_deliveries WHERE webhook_id = ?", hook.id)) as {
      at: number;
      n: number;
    };
    // One timer, set to exactly the stored due time: 60 s after the failed attempt.
    expect(row).toEqual({ at: t0 + 60_000, n: 1 });
    expect(w.dispatcher.nextWake()).toBe(row.at);
    expect(clock.nextTimer()).toBe(row.at);
    // Time passing short of it wakes nothing.
    clock.advance(59_999);
    await w.dispatcher.settled();
    expect(w.dispatcher.inFlight()).toBe(0);
    expect(r.requests).toHaveLength(1);
    // A manual retry wakes it early; once delivered there is nothing left to wake for.
    fail = false;
    const d = (await w.api("GET", `/v1/webhooks/${hook.id}/deliveries`)).body.data[0];
    await w.api("POST", `/v1/webhooks/${hook.id}/deliveries/${d.id}/retry`);
    await w.idle();
    expect(r.delivered.size).toBe(1);
    expect(w.dispatcher.nextWake()).toBeNull();
    expect(clock.nextTimer()).toBeNull();
  });
});

describe("graceful stop", () => {
  test("stop waits for attempts in flight (bounded by its grace period on the clock), records those that finish, and leaves the rest pending for the next start", async () => {
    w = await env({ config: { webhookTimeoutMs: 30_000 } });
    let answerSlow!: () => void;
    const slowAnswered = new Promise<void>((resolve) => (answerSlow = resolve));
    const slow = receiver(async () => {
      await slowAnswered;
      return new Response("done", { status: 200 });
    });
    let hanging = true;
    const stuck = receiver(() => (hanging ? hang() : new Response(null, { status: 204 })));
    const slowHook = await w.register(slow.url, ["ticket.created"]);
    const stuckHook = await w.register(stuck.url, ["ticket.created"]);
    await w.createTicket();
    await until(() => slow.requests.length === 1 && stuck.requests.length === 1, "both attempts on the wire");

    let stopped = false;
    const stopping = w.dispatcher.stop(1500).then(() => (stopped = true));
    // The slow one answers during the grace period: it is recorded.
    answerSlow();
    await until(
      async () => (await count("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE webhook_id = ? AND status = 'succeeded'", slowHook.id)) === 1,
      "the slow attempt, recorded",
    );
    expect(w.dispatcher.inFlight()).toBe(1);
    // The hanging one holds the stop until the grace period is over, and not a moment longer.
    clock.advance(1499);
    await w.dispatcher.settled();
    expect(stopped).toBe(false);
    clock.advance(1);
    await stopping;
    expect(w.dispatcher.inFlight()).toBe(0);
    // The hanging one was cut off unrecorded: still pending, no attempt counted.
    const stuckRow = (await w.env.db.get("SELECT id, status, attempt_count FROM webhook_deliveries WHERE webhook_id = ?", stuckHook.id)) as any;
    expect(stuckRow).toEqual({ id: stuck.requests[0]!.headers["webhook-id"], status: "pending", attempt_count: 0 });
    expect(await count("SELECT COUNT(*) AS n FROM webhook_attempts WHERE delivery_id = ?", stuckRow.id)).toBe(0);

    // Stopped: new events wait in the outbox (nothing listens any more).
    await w.createTicket("While stopped");
    await w.dispatcher.settled();
    expect(await count("SELECT COUNT(*) AS n FROM events WHERE dispatched_at IS NULL")).toBe(1);
    expect(slow.requests.length).toBe(1);

    // The next start resends the cut-off delivery (same webhook-id) and fans out what waited.
    hanging = false;
    const next = createDispatcher({ ...dispatcherDeps(w.env), clock, observe: observeDispatch });
    next.start();
    try {
      await until(() => stuck.delivered.has(stuckRow.id) && stuck.delivered.size === 2 && slow.delivered.size === 2, "resumed deliveries");
      expect(stuck.requests.filter((q) => q.headers["webhook-id"] === stuckRow.id)).toHaveLength(2);
    } finally {
      await stopDispatcher(next, clock, 500);
    }
  });
});

describe("fairness between organizations", () => {
  test("one organization's 20 dead endpoints with 8 new tickets do not delay another organization's delivery: it arrives while all of theirs still hang", async () => {
    // Defaults: 64 slots, 16 per organization, 4 per endpoint. Attempts time out only after a minute, so
    // anything that waited behind them could not arrive within the wait below.
    w = await env({ config: { webhookTimeoutMs: 60_000 } });
    expect([w.env.config.webhookConcurrency, w.env.config.webhookOrgConcurrency, w.env.config.webhookEndpointConcurrency]).toEqual([64, 16, 4]);
    const dead = receiver(() => hang());
    for (let i = 0; i < 20; i++) await w.register(`${dead.url}/dead/${i}`, ["ticket.created"]);
    for (let i = 0; i < 8; i++) await w.createTicket(`Ticket ${i}`);
    await until(() => dead.requests.length === 16, "org A's 16 attempts on the wire");

    const other = await w.env.org("Other Org");
    const live = receiver();
    const liveHook = (await w.api("POST", "/v1/webhooks", { url: `${live.url}/live`, events: ["ticket.created"] }, other.key)).body;
    expect((await w.api("POST", "/v1/tickets", { subject: "Elsewhere" }, other.key)).status).toBe(201);
    await until(
      async () =>
        live.delivered.size === 1 &&
        (await count("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE webhook_id = ? AND status = 'succeeded'", liveHook.id)) === 1,
      "the other organization's delivery, recorded",
    );
    await w.dispatcher.settled();
    // Every one of org A's attempts is still hanging: none has timed out, none was answered, none was recorded.
    expect(dead.requests.length).toBe(16);
    expect(w.dispatcher.inFlight()).toBe(16);
    expect(await count("SELECT COUNT(*) AS n FROM webhook_attempts")).toBe(1);
    expect(await count("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE org_id = ? AND status = 'pending' AND attempt_count = 0", w.orgId)).toBe(160);
  });

  test("when slots are scarce they go round-robin between organizations, not to whoever queued first", async () => {
    w = await env({ config: { webhookConcurrency: 2, webhookTimeoutMs: 30_000 }, start: false });
    const gates: (() => void)[] = [];
    const gated = () => new Promise<Response>((resolve) => gates.push(() => resolve(new Response(null, { status: 204 }))));
    const a = receiver(gated);
    const b = receiver(gated);
    await w.register(`${a.url}/a`, ["ticket.created"]);
    for (let i = 0; i < 3; i++) await w.createTicket(`A ${i}`);
    const other = await w.env.org("Other Org");
    await w.api("POST", "/v1/webhooks", { url: `${b.url}/b`, events: ["ticket.created"] }, other.key);
    for (let i = 0; i < 3; i++) await w.api("POST", "/v1/tickets", { subject: `B ${i}` }, other.key);

    // All six are due at once; org A's were queued first and its endpoint could take 4.
    w.dispatcher.start();
    await until(() => gates.length === 2, "two attempts on the wire");
    await w.dispatcher.settled();
    expect(w.dispatcher.inFlight()).toBe(2);
    expect([a.requests.length, b.requests.length]).toEqual([1, 1]);
    // Each answer frees a slot; the rest follow until all six are delivered.
    while (a.delivered.size + b.delivered.size < 6) {
      await until(() => gates.length > 0 || a.delivered.size + b.delivered.size === 6, "an attempt to answer");
      gates.shift()?.();
    }
    expect([a.delivered.size, b.delivered.size]).toEqual([3, 3]);
  });

  test("an organization never has more than webhook-org-concurrency attempts in flight, over all its endpoints", async () => {
    w = await env({ config: { webhookTimeoutMs: 30_000, webhookOrgConcurrency: 3 } });
    const dead = receiver(() => hang());
    for (let i = 0; i < 3; i++) await w.register(`${dead.url}/${i}`, ["ticket.created"]);
    for (let i = 0; i < 4; i++) await w.createTicket(`Ticket ${i}`);
    await until(() => dead.requests.length === 3, "3 attempts");
    await w.dispatcher.settled();
    expect(w.dispatcher.inFlight()).toBe(3);
    expect(dead.requests.length).toBe(3);
    // One per endpoint: the organization's slots are shared out between its endpoints.
    expect(new Set(dead.requests.map((q) => q.path)).size).toBe(3);
  });
});

describe("webhooks per organization", () => {
  test("registering more than webhook-max-per-org is a 409 webhook_limit_reached; disabled ones count; deleting one makes room; other organizations are not affected", async () => {
    w = await env({ config: { webhookMaxPerOrg: 3 }, start: false });
    const hooks: { id: string }[] = [];
    for (let i = 0; i < 3; i++) hooks.push(await w.register(`http://127.0.0.1:9/${i}`));
    await w.api("PATCH", `/v1/webhooks/${hooks[0].id}`, { active: false });
    const refused = await w.api("POST", "/v1/webhooks", { url: "http://127.0.0.1:9/more", events: ["*"] });
    expect(refused.status).toBe(409);
    expect(refused.body).toEqual({
      error: "webhook_limit_reached",
      message: "This organization already has 3 webhooks, the most allowed (--webhook-max-per-org / CLIENTCOVE_WEBHOOK_MAX_PER_ORG); delete one first.",
    });
    expect(await count("SELECT COUNT(*) AS n FROM webhooks")).toBe(3);
    const other = await w.env.org("Other Org");
    expect((await w.api("POST", "/v1/webhooks", { url: "http://127.0.0.1:9/x", events: ["*"] }, other.key)).status).toBe(201);
    expect((await w.api("DELETE", `/v1/webhooks/${hooks[0].id}`)).status).toBe(204);
    expect((await w.api("POST", "/v1/webhooks", { url: "http://127.0.0.1:9/more", events: ["*"] })).status).toBe(201);
  });
});
