// Delivery rules against real receivers: retries with backoff, the attempt budget, Retry-After, 410, redirects, timeouts, manual retry, auto-disable and replay.
import { afterEach, describe, expect, test } from "bun:test";
import { hang, startReceiver, waitFor, webhookEnv, type WebhookEnv, receiverPool } from "./webhooks-fixtures";

let w: WebhookEnv;
const receivers = receiverPool();
const receiver = receivers.start;

afterEach(async () => {
  await w?.close();
  receivers.stopAll();
});

/** The delivery with its attempts (the newest one unless `id` is given); a stand-in with no attempts before fan-out made one. */
async function delivery(hookId: string, id?: string): Promise<any> {
  const deliveryId = id ?? (await w.api("GET", `/v1/webhooks/${hookId}/deliveries`)).body.data[0]?.id;
  if (!deliveryId) return { status: "none", attempts: [], attempt_count: 0 };
  return (await w.api("GET", `/v1/webhooks/${hookId}/deliveries/${deliveryId}`)).body;
}

async function waitForStatus(hookId: string, status: string, what = `a ${status} delivery`): Promise<any> {
  return waitFor(async () => {
    const d = await delivery(hookId);
    return d.status === status ? d : null;
  }, what);
}

describe("retries", () => {
  test("a receiver failing twice then succeeding gets exactly 3 attempts, same id and bytes, with growing gaps", async () => {
    w = webhookEnv({ config: { webhookRetryBaseMs: 100 } });
    const r = receiver((_, n) => new Response(n <= 2 ? "not yet" : "ok", { status: n <= 2 ? 500 : 200 }));
    const hook = await w.register(r.url);
    await w.createTicket();
    const d = await waitForStatus(hook.id, "succeeded");
    expect(r.requests).toHaveLength(3);
    expect(new Set(r.requests.map((q) => q.headers["webhook-id"]))).toEqual(new Set([d.id]));
    expect(new Set(r.requests.map((q) => q.body)).size).toBe(1);
    const [a, b, c] = r.requests.map((q) => q.at) as [number, number, number];
    // Scheduled delays are 100 ms and 400 ms, each ±20 %: an attempt never comes early.
    expect(b - a).toBeGreaterThanOrEqual(80);
    expect(c - b).toBeGreaterThanOrEqual(320);
    expect(c - b).toBeGreaterThan(b - a);
    expect(d.attempt_count).toBe(3);
    expect(d.next_attempt_at).toBeNull();
    expect(d.attempts.map((x: any) => [x.status_code, x.response_body])).toEqual([
      [500, "not yet"],
      [500, "not yet"],
      [200, "ok"],
    ]);
    for (const x of d.attempts) expect(x.duration_ms).toBeGreaterThanOrEqual(0);
  });

  test("a receiver always failing gets 4 attempts, then the delivery is failed, kept in the log, and a manual retry sends it once more", async () => {
    w = webhookEnv();
    let healthy = false;
    const r = receiver(() => new Response(healthy ? "thanks" : "boom", { status: healthy ? 200 : 503 }));
    const hook = await w.register(r.url);
    await w.createTicket();
    const failed = await waitForStatus(hook.id, "failed");
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
    const done = await waitForStatus(hook.id, "succeeded");
    expect(done.attempt_count).toBe(5);
    expect(r.requests).toHaveLength(5);
    expect(r.requests[4]!.headers["webhook-id"]).toBe(failed.id);
    expect(r.requests[4]!.body).toBe(r.requests[0]!.body);
    // A new attempt carries a fresh timestamp and signature; the id stays.
    expect(done.attempts.at(-1)).toEqual(expect.objectContaining({ status_code: 200, response_body: "thanks" }));
  });

  test("a manual retry that fails again ends failed after that one attempt (no new retry schedule)", async () => {
    w = webhookEnv();
    const r = receiver(() => new Response(null, { status: 500 }));
    const hook = await w.register(r.url);
    await w.createTicket();
    const failed = await waitForStatus(hook.id, "failed");
    await w.api("POST", `/v1/webhooks/${hook.id}/deliveries/${failed.id}/retry`);
    await waitFor(async () => (await delivery(hook.id, failed.id)).attempt_count === 5, "the fifth attempt");
    const d = await waitForStatus(hook.id, "failed");
    expect(d.attempt_count).toBe(5);
    expect(d.next_attempt_at).toBeNull();
    expect(r.requests).toHaveLength(5);
  });

  test("Retry-After on a 429 is honoured: the next attempt waits at least that long", async () => {
    w = webhookEnv({ config: { webhookRetryBaseMs: 20 } });
    const r = receiver((_, n) => (n === 1 ? new Response("slow down", { status: 429, headers: { "retry-after": "1" } }) : new Response(null, { status: 204 })));
    const hook = await w.register(r.url);
    await w.createTicket();
    await waitForStatus(hook.id, "succeeded");
    expect(r.requests).toHaveLength(2);
    expect(r.requests[1]!.at - r.requests[0]!.at).toBeGreaterThanOrEqual(1000);
  });
});

describe("failures that are not plain statuses", () => {
  test("410 Gone disables the endpoint at once; nothing more is queued or sent", async () => {
    w = webhookEnv();
    const r = receiver(() => new Response("gone", { status: 410 }));
    const hook = await w.register(r.url);
    await w.createTicket();
    const d = await waitForStatus(hook.id, "failed");
    expect(d.attempt_count).toBe(1);
    const got = (await w.api("GET", `/v1/webhooks/${hook.id}`)).body;
    expect(got.active).toBe(false);
    expect(got.disabled_reason).toContain("410");
    expect(got.disabled_at).toBeString();
    await w.createTicket("After it was gone");
    const rows = w.env.handle.sqlite.query("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE webhook_id = ?").get(hook.id) as { n: number };
    // The second ticket's event is dispatched (fan-out skips the disabled endpoint).
    await waitFor(() => (w.env.handle.sqlite.query("SELECT COUNT(*) AS n FROM events WHERE dispatched_at IS NULL").get() as { n: number }).n === 0, "fan-out");
    expect((w.env.handle.sqlite.query("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE webhook_id = ?").get(hook.id) as { n: number }).n).toBe(rows.n);
    expect(r.requests).toHaveLength(1);
    const retry = await w.api("POST", `/v1/webhooks/${hook.id}/deliveries/${d.id}/retry`);
    expect(retry.status).toBe(409);
    expect(retry.body.error).toBe("webhook_disabled");
    expect((await w.api("POST", `/v1/webhooks/${hook.id}/test`)).body.error).toBe("webhook_disabled");
  });

  test("redirects are not followed: a 3xx is a failed attempt that says so", async () => {
    w = webhookEnv({ config: { webhookRetryBaseMs: 60_000 } });
    const target = receiver();
    const r = receiver(() => new Response(null, { status: 302, headers: { location: `${target.url}/elsewhere` } }));
    const hook = await w.register(r.url);
    await w.createTicket();
    const d = await waitFor(async () => {
      const x = await delivery(hook.id);
      return x.attempts.length === 1 ? x : null;
    }, "the first attempt");
    expect(d.status).toBe("pending");
    expect(d.attempts[0].status_code).toBe(302);
    expect(d.attempts[0].error).toBe(`redirect not followed (HTTP 302 to ${target.url}/elsewhere)`);
    expect(target.requests).toHaveLength(0);
  });

  test("a receiver that does not answer in time is a timed-out attempt; a closed port is a refused connection", async () => {
    w = webhookEnv({ config: { webhookTimeoutMs: 300, webhookRetryBaseMs: 60_000 } });
    const slow = receiver(() => hang());
    const closed = startReceiver();
    const closedUrl = closed.url;
    closed.stop();
    const slowHook = await w.register(slow.url);
    const closedHook = await w.register(closedUrl);
    await w.createTicket();
    const first = async (id: string) =>
      waitFor(async () => {
        const x = await delivery(id);
        return x.attempts.length === 1 ? x.attempts[0] : null;
      }, "an attempt");
    const timedOut = await first(slowHook.id);
    expect(timedOut).toEqual(expect.objectContaining({ status_code: null, error: "timed out after 300 ms", response_body: null }));
    expect(timedOut.duration_ms).toBeGreaterThanOrEqual(290);
    const refused = await first(closedHook.id);
    expect(refused).toEqual(expect.objectContaining({ status_code: null, error: "connection refused" }));
  });

  test("only the first 1 KiB of a response body is kept", async () => {
    w = webhookEnv();
    const r = receiver(() => new Response("x".repeat(10_000), { status: 200 }));
    const hook = await w.register(r.url);
    await w.createTicket();
    const d = await waitForStatus(hook.id, "succeeded");
    expect(d.attempts[0].response_body).toBe("x".repeat(1024));
  });
});

describe("auto-disable and re-enable", () => {
  test("20 failed deliveries in a row disable the endpoint; re-enabling sends new events only, unless replay_missed asks for the backlog", async () => {
    w = webhookEnv({ config: { webhookRetryBaseMs: 1 } });
    let healthy = false;
    const r = receiver(() => new Response(null, { status: healthy ? 204 : 500 }));
    const hook = await w.register(r.url, ["ticket.created"]);
    for (let i = 0; i < 20; i++) await w.createTicket(`Doomed ${i}`);
    const disabled = await waitFor(async () => {
      const x = (await w.api("GET", `/v1/webhooks/${hook.id}`)).body;
      return x.active === false ? x : null;
    }, "auto-disable");
    expect(disabled.disabled_reason).toBe("The last 20 deliveries failed after every retry (last: HTTP 500).");
    const statuses = (await w.api("GET", `/v1/webhooks/${hook.id}/deliveries?per_page=100`)).body;
    expect(statuses.meta.total).toBe(20);
    expect(statuses.data.every((x: any) => x.status === "failed" && x.attempt_count === 4)).toBe(true);

    // While disabled: events are not queued for it.
    const missed = await w.createTicket("Missed while disabled");
    await waitFor(() => (w.env.handle.sqlite.query("SELECT COUNT(*) AS n FROM events WHERE dispatched_at IS NULL").get() as { n: number }).n === 0, "fan-out");
    expect((await w.api("GET", `/v1/webhooks/${hook.id}/deliveries`)).body.meta.total).toBe(20);

    // Re-enable without replay: only new events.
    healthy = true;
    const before = r.requests.length;
    const enabled = await w.api("PATCH", `/v1/webhooks/${hook.id}`, { active: true });
    expect(enabled.body).toEqual(expect.objectContaining({ active: true, disabled_reason: null, disabled_at: null }));
    const fresh = await w.createTicket("After re-enable");
    await waitFor(() => r.requests.length === before + 1, "the new event");
    expect(r.requests.at(-1)!.json.data.id).toBe(fresh.id);
    expect(r.requests.some((q) => q.json.data.id === missed.id)).toBe(false);

    // Disable by hand, miss one, re-enable with replay_missed: the missed event is delivered.
    expect((await w.api("PATCH", `/v1/webhooks/${hook.id}`, { active: false })).body).toEqual(expect.objectContaining({ active: false, disabled_reason: "Disabled by PATCH." }));
    const missedAgain = await w.createTicket("Missed, then replayed");
    await waitFor(() => (w.env.handle.sqlite.query("SELECT COUNT(*) AS n FROM events WHERE dispatched_at IS NULL").get() as { n: number }).n === 0, "fan-out");
    const bad = await w.api("PATCH", `/v1/webhooks/${hook.id}`, { replay_missed: true });
    expect(bad.status).toBe(400);
    expect((await w.api("PATCH", `/v1/webhooks/${hook.id}`, { active: true, replay_missed: true })).status).toBe(200);
    await waitFor(() => r.requests.some((q) => q.json.data.id === missedAgain.id), "the replayed event");
    // The first outage is older than the last disable: still not replayed.
    expect(r.requests.some((q) => q.json.data.id === missed.id)).toBe(false);
  });

  test("disabling cancels pending deliveries; a replay requeues them with the same id", async () => {
    w = webhookEnv({ config: { webhookRetryBaseMs: 60_000 } });
    let healthy = false;
    const r = receiver(() => new Response(null, { status: healthy ? 204 : 500 }));
    const hook = await w.register(r.url);
    await w.createTicket();
    const waiting = await waitFor(async () => {
      const x = await delivery(hook.id);
      return x.attempt_count === 1 ? x : null;
    }, "first failed attempt");
    expect(waiting.status).toBe("pending");
    await w.api("PATCH", `/v1/webhooks/${hook.id}`, { active: false });
    expect((await delivery(hook.id, waiting.id)).status).toBe("cancelled");
    healthy = true;
    await w.api("PATCH", `/v1/webhooks/${hook.id}`, { active: true, replay_missed: true });
    const done = await waitForStatus(hook.id, "succeeded");
    expect(done.id).toBe(waiting.id);
    expect(r.requests.at(-1)!.headers["webhook-id"]).toBe(waiting.id);
  });
});
