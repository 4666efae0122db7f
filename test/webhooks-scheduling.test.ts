// The scheduler: concurrency limits keep a dead endpoint from delaying others, timers sleep until the next due attempt, graceful stop leaves the rest pending.
import { afterEach, describe, expect, test } from "bun:test";
import { silentLogger } from "../src/lib/log";
import { createDispatcher } from "../src/webhooks/dispatcher";
import { hang, waitFor, webhookEnv, type WebhookEnv, receiverPool } from "./webhooks-fixtures";

let w: WebhookEnv;
const receivers = receiverPool();
const receiver = receivers.start;

afterEach(async () => {
  await w?.close();
  receivers.stopAll();
});

function count(sql: string, ...args: string[]): number {
  return (w.env.handle.sqlite.query(sql).get(...args) as { n: number }).n;
}

describe("concurrency", () => {
  test("a hanging endpoint holds at most its own slots: another endpoint gets every event meanwhile", async () => {
    w = webhookEnv({ config: { webhookTimeoutMs: 30_000, webhookConcurrency: 5, webhookEndpointConcurrency: 4 } });
    const dead = receiver(() => hang());
    const live = receiver();
    const deadHook = await w.register(dead.url, ["ticket.created"]);
    const liveHook = await w.register(live.url, ["ticket.created"]);
    for (let i = 0; i < 12; i++) await w.createTicket(`Ticket ${i}`);
    await waitFor(
      () => live.delivered.size === 12 && count("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE webhook_id = ? AND status = 'succeeded'", liveHook.id) === 12,
      "all 12 deliveries at the live endpoint, recorded",
    );
    // The dead endpoint has exactly its 4 slots on the wire and nothing has come back from it.
    await waitFor(() => dead.requests.length === 4, "the dead endpoint's 4 attempts");
    await Bun.sleep(50);
    expect(dead.requests.length).toBe(4);
    expect(w.dispatcher.inFlight()).toBe(4);
    expect(count("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE webhook_id = ? AND status = 'pending' AND attempt_count = 0", deadHook.id)).toBe(12);
    expect(count("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE webhook_id = ? AND status = 'succeeded'", liveHook.id)).toBe(12);
  });
});

describe("timers, not polling", () => {
  test("the dispatcher sleeps until the next due retry, and not at all when nothing is due", async () => {
    w = webhookEnv({ config: { webhookRetryBaseMs: 60_000 } });
    let fail = true;
    const r = receiver(() => new Response(null, { status: fail ? 500 : 204 }));
    const hook = await w.register(r.url);
    expect(w.dispatcher.nextWake()).toBeNull();
    await w.createTicket();
    const next = await waitFor(() => {
      const row = w.env.handle.sqlite.query("SELECT next_attempt_at AS at, attempt_count AS n FROM webhook_deliveries WHERE webhook_id = ?").get(hook.id) as { at: number; n: number } | null;
      return row?.n === 1 && w.dispatcher.inFlight() === 0 ? row.at : null;
    }, "a scheduled retry");
    // One timer, set to exactly the stored due time (60 s ± 20 % away).
    expect(w.dispatcher.nextWake()).toBe(next);
    expect(next - Date.now()).toBeGreaterThan(40_000);
    // A manual retry wakes it early; once delivered there is nothing left to wake for.
    fail = false;
    const d = (await w.api("GET", `/v1/webhooks/${hook.id}/deliveries`)).body.data[0];
    await w.api("POST", `/v1/webhooks/${hook.id}/deliveries/${d.id}/retry`);
    await waitFor(() => r.delivered.size === 1 && w.dispatcher.inFlight() === 0, "the retried delivery");
    expect(w.dispatcher.nextWake()).toBeNull();
  });
});

describe("graceful stop", () => {
  test("stop waits for attempts in flight (bounded), records those that finish, and leaves the rest pending for the next start", async () => {
    w = webhookEnv({ config: { webhookTimeoutMs: 30_000 } });
    const slow = receiver(async () => {
      await Bun.sleep(300);
      return new Response("done", { status: 200 });
    });
    let hanging = true;
    const stuck = receiver(() => (hanging ? hang() : new Response(null, { status: 204 })));
    const slowHook = await w.register(slow.url, ["ticket.created"]);
    const stuckHook = await w.register(stuck.url, ["ticket.created"]);
    await w.createTicket();
    await waitFor(() => slow.requests.length === 1 && stuck.requests.length === 1, "both attempts on the wire");

    await w.dispatcher.stop(1500);
    expect(w.dispatcher.inFlight()).toBe(0);
    // The slow one finished within the grace period and was recorded.
    expect(count("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE webhook_id = ? AND status = 'succeeded'", slowHook.id)).toBe(1);
    // The hanging one was cut off unrecorded: still pending, no attempt counted.
    const stuckRow = w.env.handle.sqlite.query("SELECT id, status, attempt_count FROM webhook_deliveries WHERE webhook_id = ?").get(stuckHook.id) as any;
    expect(stuckRow).toEqual({ id: stuck.requests[0]!.headers["webhook-id"], status: "pending", attempt_count: 0 });
    expect(count("SELECT COUNT(*) AS n FROM webhook_attempts WHERE delivery_id = ?", stuckRow.id)).toBe(0);

    // Stopped: new events wait in the outbox.
    await w.createTicket("While stopped");
    await Bun.sleep(50);
    expect(count("SELECT COUNT(*) AS n FROM events WHERE dispatched_at IS NULL")).toBe(1);
    expect(slow.requests.length).toBe(1);

    // The next start resends the cut-off delivery (same webhook-id) and fans out what waited.
    hanging = false;
    const next = createDispatcher({ config: w.env.config, db: w.env.handle.db, clock: w.env.clock, log: silentLogger });
    next.start();
    try {
      await waitFor(() => stuck.delivered.has(stuckRow.id) && stuck.delivered.size === 2 && slow.delivered.size === 2, "resumed deliveries");
      expect(stuck.requests.filter((q) => q.headers["webhook-id"] === stuckRow.id)).toHaveLength(2);
    } finally {
      await next.stop(500);
    }
  });
});
