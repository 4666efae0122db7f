// Delivery rules against real receivers, on a manual clock: retries with backoff, the attempt budget, Retry-After, 410, redirects, timeouts, manual retry, auto-disable and replay.
import { afterEach, describe, expect, test } from "bun:test";
import { manualClock, type ManualClock } from "../src/lib/clock";
import { toIso } from "../src/lib/time";
import { hang, startReceiver, until, webhookEnv, type WebhookEnv, receiverPool } from "./webhooks-fixtures";

let w: WebhookEnv;
let clock: ManualClock;
const receivers = receiverPool();
const receiver = receivers.start;

afterEach(async () => {
  await w?.close();
  receivers.stopAll();
});

/** An env on a fresh manual clock with jitter fixed at its midpoint, so every retry delay is exact: base · 4^(n−1). */
async function env(config: NonNullable<Parameters<typeof webhookEnv>[0]>["config"] = {}): Promise<WebhookEnv> {
  clock = manualClock();
  return await webhookEnv({ clock, config, dispatcher: { random: () => 0.5 } });
}

/** The delivery with its attempts (the newest one unless `id` is given); a stand-in with no attempts before fan-out made one. */
async function delivery(hookId: string, id?: string): Promise<any> {
  const deliveryId = id ?? (await w.api("GET", `/v1/webhooks/${hookId}/deliveries`)).body.data[0]?.id;
  if (!deliveryId) return { status: "none", attempts: [], attempt_count: 0 };
  return (await w.api("GET", `/v1/webhooks/${hookId}/deliveries/${deliveryId}`)).body;
}

async function undispatched(): Promise<number> {
  return ((await w.env.db.get("SELECT COUNT(*) AS n FROM events WHERE dispatched_at IS NULL")) as { n: number }).n;
}

/**
 * Moves the clock to 1 ms before the next due attempt (nothing starts: it is never early), then onto it
 * (the dispatcher's timer fires and the attempt goes out, its claim a read away), and waits until it is recorded.
 */
async function stepToNextAttempt(dueAt: number) {
  expect(w.dispatcher.nextWake()).toBe(dueAt);
  clock.advance(dueAt - 1 - clock.now());
  await w.dispatcher.settled();
  expect(w.dispatcher.inFlight()).toBe(0);
  clock.advance(1);
  await until(() => w.dispatcher.inFlight() === 1, "the attempt, started at its due time");
  await w.idle();
}

describe("retries", () => {
  test("a receiver failing twice then succeeding gets exactly 3 attempts, same id and bytes, at the backoff's times (100 ms, then 400 ms later)", async () => {
    w = await env({ webhookRetryBaseMs: 100 });
    const r = receiver((_, n) => new Response(n <= 2 ? "not yet" : "ok", { status: n <= 2 ? 500 : 200 }));
    const hook = await w.register(r.url);
    const t0 = clock.now();
    await w.createTicket();
    await w.idle();
    expect(r.requests).toHaveLength(1);
    expect((await delivery(hook.id)).next_attempt_at).toBe(toIso(t0 + 100));
    await stepToNextAttempt(t0 + 100);
    expect(r.requests).toHaveLength(2);
    await stepToNextAttempt(t0 + 500);
    const d = await delivery(hook.id);
    expect(d.status).toBe("succeeded");
    expect(w.dispatcher.nextWake()).toBeNull();
    expect(r.requests).toHaveLength(3);
    expect(new Set(r.requests.map((q) => q.headers["webhook-id"]))).toEqual(new Set([d.id]));
    expect(new Set(r.requests.map((q) => q.body)).size).toBe(1);
    // Each attempt is signed for its own time.
    expect(r.requests.map((q) => Number(q.headers["webhook-timestamp"]))).toEqual([t0, t0 + 100, t0 + 500].map((t) => Math.floor(t / 1000)));
    expect(d.attempt_count).toBe(3);
    expect(d.next_attempt_at).toBeNull();
    expect(d.attempts.map((x: any) => [x.attempted_at, x.status_code, x.response_body])).toEqual([
      [toIso(t0), 500, "not yet"],
      [toIso(t0 + 100), 500, "not yet"],
      [toIso(t0 + 500), 200, "ok"],
    ]);
    for (const x of d.attempts) expect(Number.isInteger(x.duration_ms) && x.duration_ms >= 0).toBe(true);
  });

  test("a receiver always failing gets 4 attempts, then the delivery is failed, kept in the log, and a manual retry sends it once more", async () => {
    w = await env();
    let healthy = false;
    const r = receiver(() => new Response(healthy ? "thanks" : "boom", { status: healthy ? 200 : 503 }));
    const hook = await w.register(r.url);
    await w.createTicket();
    expect(await w.runDue()).toBe(3);
    const failed = await delivery(hook.id);
    expect(failed.status).toBe("failed");
    expect(r.requests).toHaveLength(4);
    expect(failed.attempt_count).toBe(4);
    expect(failed.attempts.map((x: any) => x.status_code)).toEqual([503, 503, 503, 503]);
    const filtered = await w.api("GET", `/v1/webhooks/${hook.id}/deliveries?status=failed`);
    expect(filtered.body.data.map((x: any) => x.id)).toEqual([failed.id]);
    expect((await w.api("GET", `/v1/webhooks/${hook.id}/deliveries?status=succeeded`)).body.data).toEqual([]);

    healthy = true;
    const retried = await w.api("POST", `/v1/webhooks/${hook.id}/deliveries/${failed.id}/retry`);
    expect(retried.status).toBe(202);
    expect(retried.body).toEqual(expect.objectContaining({ id: failed.id, status: "pending", attempt_count: 4 }));
    // Due at once: no clock movement needed.
    await w.idle();
    const done = await delivery(hook.id);
    expect(done.status).toBe("succeeded");
    expect(done.attempt_count).toBe(5);
    expect(r.requests).toHaveLength(5);
    expect(r.requests[4]!.headers["webhook-id"]).toBe(failed.id);
    expect(r.requests[4]!.body).toBe(r.requests[0]!.body);
    // A new attempt carries a fresh timestamp and signature; the id stays.
    expect(done.attempts.at(-1)).toEqual(expect.objectContaining({ status_code: 200, response_body: "thanks" }));
  });

  test("a manual retry that fails again ends failed after that one attempt (no new retry schedule)", async () => {
    w = await env();
    const r = receiver(() => new Response(null, { status: 500 }));
    const hook = await w.register(r.url);
    await w.createTicket();
    await w.runDue();
    const failed = await delivery(hook.id);
    expect(failed.status).toBe("failed");
    await w.api("POST", `/v1/webhooks/${hook.id}/deliveries/${failed.id}/retry`);
    expect(await w.runDue()).toBe(0);
    const d = await delivery(hook.id, failed.id);
    expect(d.status).toBe("failed");
    expect(d.attempt_count).toBe(5);
    expect(d.next_attempt_at).toBeNull();
    expect(w.dispatcher.nextWake()).toBeNull();
    expect(r.requests).toHaveLength(5);
  });

  test("Retry-After on a 429 is honoured: the next attempt is due exactly that long after, not at the shorter backoff", async () => {
    w = await env({ webhookRetryBaseMs: 20 });
    const r = receiver((_, n) => (n === 1 ? new Response("slow down", { status: 429, headers: { "retry-after": "1" } }) : new Response(null, { status: 204 })));
    const hook = await w.register(r.url);
    const t0 = clock.now();
    await w.createTicket();
    await w.idle();
    await stepToNextAttempt(t0 + 1000);
    expect((await delivery(hook.id)).status).toBe("succeeded");
    expect(r.requests).toHaveLength(2);
  });

  test("a Retry-After longer than an hour is capped at an hour", async () => {
    w = await env({ webhookRetryBaseMs: 20 });
    const r = receiver((_, n) => (n === 1 ? new Response(null, { status: 503, headers: { "retry-after": "86400" } }) : new Response(null, { status: 204 })));
    const hook = await w.register(r.url);
    const t0 = clock.now();
    await w.createTicket();
    await w.idle();
    expect((await delivery(hook.id)).next_attempt_at).toBe(toIso(t0 + 3_600_000));
    await stepToNextAttempt(t0 + 3_600_000);
    expect((await delivery(hook.id)).status).toBe("succeeded");
  });
});

describe("failures that are not plain statuses", () => {
  test("410 Gone disables the endpoint at once; nothing more is queued or sent", async () => {
    w = await env();
    const r = receiver(() => new Response("gone", { status: 410 }));
    const hook = await w.register(r.url);
    await w.createTicket();
    expect(await w.runDue()).toBe(0);
    const d = await delivery(hook.id);
    expect(d.status).toBe("failed");
    expect(d.attempt_count).toBe(1);
    const got = (await w.api("GET", `/v1/webhooks/${hook.id}`)).body;
    expect(got.active).toBe(false);
    expect(got.disabled_reason).toContain("410");
    expect(got.disabled_at).toBeString();
    const rows = (await w.env.db.get("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE webhook_id = ?", hook.id)) as { n: number };
    await w.createTicket("After it was gone");
    await w.idle();
    // The second ticket's event is dispatched (fan-out skips the disabled endpoint).
    expect(await undispatched()).toBe(0);
    expect(((await w.env.db.get("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE webhook_id = ?", hook.id)) as { n: number }).n).toBe(rows.n);
    expect(r.requests).toHaveLength(1);
    const retry = await w.api("POST", `/v1/webhooks/${hook.id}/deliveries/${d.id}/retry`);
    expect(retry.status).toBe(409);
    expect(retry.body.error).toBe("webhook_disabled");
    expect((await w.api("POST", `/v1/webhooks/${hook.id}/test`)).body.error).toBe("webhook_disabled");
  });

  test("redirects are not followed: a 3xx is a failed attempt that says so", async () => {
    w = await env({ webhookRetryBaseMs: 60_000 });
    const target = receiver();
    const r = receiver(() => new Response(null, { status: 302, headers: { location: `${target.url}/elsewhere` } }));
    const hook = await w.register(r.url);
    await w.createTicket();
    await w.idle();
    const d = await delivery(hook.id);
    expect(d.status).toBe("pending");
    expect(d.attempts).toHaveLength(1);
    expect(d.attempts[0].status_code).toBe(302);
    expect(d.attempts[0].error).toBe(`redirect not followed (HTTP 302 to ${target.url}/elsewhere)`);
    expect(target.requests).toHaveLength(0);
  });

  test("a receiver that does not answer in time is a timed-out attempt; a closed port is a refused connection", async () => {
    // The attempt timeout is the transport's own deadline on the real connection (not the scheduler's clock).
    w = await env({ webhookTimeoutMs: 300, webhookRetryBaseMs: 60_000 });
    const slow = receiver(() => hang());
    const closed = startReceiver();
    const closedUrl = closed.url;
    closed.stop();
    const slowHook = await w.register(slow.url);
    const closedHook = await w.register(closedUrl);
    await w.createTicket();
    await w.idle();
    const timedOut = (await delivery(slowHook.id)).attempts;
    expect(timedOut).toEqual([expect.objectContaining({ status_code: null, error: "timed out after 300 ms", response_body: null })]);
    const refused = (await delivery(closedHook.id)).attempts;
    expect(refused).toEqual([expect.objectContaining({ status_code: null, error: "connection refused" })]);
  });

  test("only the first 1 KiB of a response body is kept", async () => {
    w = await env();
    const r = receiver(() => new Response("x".repeat(10_000), { status: 200 }));
    const hook = await w.register(r.url);
    await w.createTicket();
    await w.idle();
    const d = await delivery(hook.id);
    expect(d.status).toBe("succeeded");
    expect(d.attempts[0].response_body).toBe("x".repeat(1024));
  });
});

describe("auto-disable and re-enable", () => {
  test("20 failed deliveries in a row disable the endpoint; re-enabling sends new events only, unless replay_missed asks for the backlog", async () => {
    // On the manual clock the 60 retries come due when the test moves the clock, however slow the machine.
    w = await env();
    let healthy = false;
    const r = receiver(() => new Response(null, { status: healthy ? 204 : 500 }));
    const hook = await w.register(r.url, ["ticket.created"]);
    for (let i = 0; i < 20; i++) await w.createTicket(`Doomed ${i}`);
    await w.runDue();
    const disabled = (await w.api("GET", `/v1/webhooks/${hook.id}`)).body;
    expect(disabled.active).toBe(false);
    expect(disabled.disabled_reason).toBe("The last 20 deliveries failed after every retry (last: HTTP 500).");
    const statuses = (await w.api("GET", `/v1/webhooks/${hook.id}/deliveries?per_page=100`)).body;
    expect(statuses.meta.total).toBe(20);
    expect(statuses.data.every((x: any) => x.status === "failed" && x.attempt_count === 4)).toBe(true);
    expect(r.requests).toHaveLength(80);

    // While disabled: events are not queued for it.
    const missed = await w.createTicket("Missed while disabled");
    await w.idle();
    expect(await undispatched()).toBe(0);
    expect((await w.api("GET", `/v1/webhooks/${hook.id}/deliveries`)).body.meta.total).toBe(20);

    // Re-enable without replay: only new events.
    healthy = true;
    const before = r.requests.length;
    const enabled = await w.api("PATCH", `/v1/webhooks/${hook.id}`, { active: true });
    expect(enabled.body).toEqual(expect.objectContaining({ active: true, disabled_reason: null, disabled_at: null }));
    const fresh = await w.createTicket("After re-enable");
    await w.idle();
    expect(r.requests).toHaveLength(before + 1);
    expect(r.requests.at(-1)!.json.data.id).toBe(fresh.id);
    expect(r.requests.some((q) => q.json.data.id === missed.id)).toBe(false);

    // Disable by hand, miss one, re-enable with replay_missed: the missed event is delivered.
    clock.advance(1000); // the outage starts after the first one ended
    expect((await w.api("PATCH", `/v1/webhooks/${hook.id}`, { active: false })).body).toEqual(
      expect.objectContaining({ active: false, disabled_reason: "Disabled by PATCH." }),
    );
    const missedAgain = await w.createTicket("Missed, then replayed");
    await w.idle();
    expect(await undispatched()).toBe(0);
    const bad = await w.api("PATCH", `/v1/webhooks/${hook.id}`, { replay_missed: true });
    expect(bad.status).toBe(400);
    expect((await w.api("PATCH", `/v1/webhooks/${hook.id}`, { active: true, replay_missed: true })).status).toBe(200);
    await w.idle();
    expect(r.requests.some((q) => q.json.data.id === missedAgain.id)).toBe(true);
    // The first outage is older than the last disable: still not replayed.
    expect(r.requests.some((q) => q.json.data.id === missed.id)).toBe(false);
  }, 30_000);

  test("disabling cancels pending deliveries; a replay requeues them with the same id", async () => {
    w = await env({ webhookRetryBaseMs: 60_000 });
    let healthy = false;
    const r = receiver(() => new Response(null, { status: healthy ? 204 : 500 }));
    const hook = await w.register(r.url);
    await w.createTicket();
    await w.idle();
    const waiting = await delivery(hook.id);
    expect(waiting).toEqual(expect.objectContaining({ status: "pending", attempt_count: 1 }));
    await w.api("PATCH", `/v1/webhooks/${hook.id}`, { active: false });
    expect((await delivery(hook.id, waiting.id)).status).toBe("cancelled");
    healthy = true;
    await w.api("PATCH", `/v1/webhooks/${hook.id}`, { active: true, replay_missed: true });
    await w.idle();
    const done = await delivery(hook.id);
    expect(done).toEqual(expect.objectContaining({ id: waiting.id, status: "succeeded" }));
    expect(r.requests.at(-1)!.headers["webhook-id"]).toBe(waiting.id);
  });
});
