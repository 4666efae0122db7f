// The /v1/webhooks API: registration exactly as the reference's curl, validation, reads, changes, deletion, pagination and event types (tenant isolation of every route: test/webhooks-access.test.ts).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { EVENT_TYPES } from "../src/db/schema/events";
import { startReceiver, waitFor, webhookEnv, type Receiver, type WebhookEnv } from "./webhooks-fixtures";

let w: WebhookEnv;
let r: Receiver;

beforeAll(async () => {
  w = await webhookEnv({ config: { webhookRetryBaseMs: 60_000 } });
  r = startReceiver();
});
afterAll(async () => {
  await w.close();
  r.stop();
});

describe("register", () => {
  test("the reference's request gives 201 with the endpoint, active, and a whsec_ secret", async () => {
    const res = await w.env.request("/v1/webhooks", {
      method: "POST",
      headers: { authorization: `Bearer ${w.key}`, "content-type": "application/json" },
      body: JSON.stringify({ url: `${r.url}/webhooks/clientcove`, events: ["ticket.created", "ticket.updated", "file.uploaded"] }),
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as any;
    expect(body).toEqual({
      id: expect.stringMatching(/^wh_[0-9a-z]{16}$/),
      url: `${r.url}/webhooks/clientcove`,
      events: ["ticket.created", "ticket.updated", "file.uploaded"],
      description: null,
      active: true,
      disabled_reason: null,
      disabled_at: null,
      previous_secret_expires_at: null,
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      updated_at: body.created_at,
      secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{43}=$/),
    });
    expect(res.headers.get("location")).toBe(`${w.env.config.publicUrl}/v1/webhooks/${body.id}`);
    const got = await w.api("GET", `/v1/webhooks/${body.id}`);
    expect(got.status).toBe(200);
    const { secret: _, ...withoutSecret } = body;
    expect(got.body).toEqual(withoutSecret);
  });

  test('events may be ["*"]; duplicates collapse; a description is kept', async () => {
    const all = await w.api("POST", "/v1/webhooks", { url: r.url, events: ["*"], description: "everything" });
    expect(all.status).toBe(201);
    expect(all.body).toEqual(expect.objectContaining({ events: ["*"], description: "everything" }));
    const dup = await w.api("POST", "/v1/webhooks", { url: r.url, events: ["ticket.created", "ticket.created"] });
    expect(dup.body.events).toEqual(["ticket.created"]);
  });

  test.each([
    [
      { url: "http://127.0.0.1/x", events: ["ticket.exploded"] },
      "events.0",
      "must be one of: *, ticket.created, ticket.updated, ticket.deleted, comment.created, comment.redacted, contact.created, contact.updated, contact.deleted, file.uploaded, file.deleted, webhook.test.",
    ],
    [{ url: "http://127.0.0.1/x", events: [] }, "events", "must contain at least 1 item."],
    [{ url: "http://127.0.0.1/x" }, "events", "is required."],
    [{ events: ["*"] }, "url", "is required."],
    [{ url: "", events: ["*"] }, "url", "must not be empty."],
    [{ url: "http://127.0.0.1/x", events: ["*"], secret: "mine" }, "secret", "is not a known field."],
    [{ url: "http://127.0.0.1/x", events: ["*"], description: "d".repeat(501) }, "description", "must be at most 500 characters."],
  ])("invalid body %j is a 400 naming %s", async (json, field, message) => {
    const res = await w.api("POST", "/v1/webhooks", json);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe("validation_error");
    expect(res.body.details).toContainEqual({ field, message });
  });
});

describe("event types", () => {
  test("GET /v1/webhooks/event-types lists every type from the one list, each with a description", async () => {
    const res = await w.api("GET", "/v1/webhooks/event-types");
    expect(res.status).toBe(200);
    expect(res.body.data.map((e: any) => e.type)).toEqual([...EVENT_TYPES]);
    for (const e of res.body.data) expect(e.description.length).toBeGreaterThan(10);
  });
});

describe("list, update, delete", () => {
  test("list is paginated newest first without secrets", async () => {
    const other = await w.env.org("Lister");
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await w.api("POST", "/v1/webhooks", { url: `${r.url}/${i}`, events: ["*"] }, other.key)).body.id);
    const p1 = await w.api("GET", "/v1/webhooks?per_page=2", undefined, other.key);
    expect(p1.body.meta).toEqual({ page: 1, per_page: 2, total: 3 });
    const p2 = await w.api("GET", "/v1/webhooks?per_page=2&page=2", undefined, other.key);
    const seen = [...p1.body.data, ...p2.body.data].map((x: any) => x.id);
    expect(new Set(seen)).toEqual(new Set(ids));
    expect(JSON.stringify([p1.body, p2.body])).not.toContain("whsec_");
    expect((await w.api("GET", "/v1/webhooks?per_page=101", undefined, other.key)).status).toBe(400);
    expect((await w.api("GET", "/v1/webhooks?page=9", undefined, other.key)).body).toEqual({ data: [], meta: { page: 9, per_page: 25, total: 3 } });
  });

  test("PATCH changes url, events, description and active; an empty body or unknown event is a 400", async () => {
    const hook = await w.register(r.url, ["ticket.created"]);
    const res = await w.api("PATCH", `/v1/webhooks/${hook.id}`, { url: `${r.url}/v2`, events: ["ticket.deleted"], description: "v2" });
    expect(res.status).toBe(200);
    expect(res.body).toEqual(expect.objectContaining({ url: `${r.url}/v2`, events: ["ticket.deleted"], description: "v2", active: true }));
    expect((await w.api("PATCH", `/v1/webhooks/${hook.id}`, { description: null })).body.description).toBeNull();
    expect((await w.api("PATCH", `/v1/webhooks/${hook.id}`, {})).status).toBe(400);
    expect((await w.api("PATCH", `/v1/webhooks/${hook.id}`, { events: ["nope"] })).status).toBe(400);
    expect((await w.api("PATCH", `/v1/webhooks/${hook.id}`, { active: "yes" })).status).toBe(400);
  });

  test("DELETE removes the endpoint; its pending deliveries are never sent", async () => {
    let fail = true;
    const flaky = startReceiver(() => new Response(null, { status: fail ? 500 : 204 }));
    try {
      const hook = await w.register(flaky.url, ["ticket.created"]);
      await w.createTicket();
      await waitFor(() => flaky.requests.length === 1, "the first attempt");
      const pending = (await w.api("GET", `/v1/webhooks/${hook.id}/deliveries?status=pending`)).body.data;
      expect(pending).toHaveLength(1);
      expect((await w.api("DELETE", `/v1/webhooks/${hook.id}`)).status).toBe(204);
      expect((await w.api("GET", `/v1/webhooks/${hook.id}`)).status).toBe(404);
      expect((await w.api("DELETE", `/v1/webhooks/${hook.id}`)).status).toBe(404);
      const left = (await w.env.db.get("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE webhook_id = ?", hook.id)) as { n: number };
      expect(left.n).toBe(0);
      fail = false;
      // A retry for it would be due only in a minute anyway; make sure nothing is scheduled for it at all.
      expect(w.dispatcher.nextWake() === null || w.dispatcher.nextWake()! > Date.now() + 30_000).toBe(true);
    } finally {
      flaky.stop();
    }
  });
});

describe("deliveries", () => {
  test("the log lists newest first, filters by status, and shows payload and attempts; unknown status is a 400", async () => {
    const hook = await w.register(r.url, ["ticket.created"]);
    const a = await w.createTicket("First");
    const b = await w.createTicket("Second");
    await waitFor(async () => (await w.api("GET", `/v1/webhooks/${hook.id}/deliveries?status=succeeded`)).body.meta.total === 2, "two deliveries");
    const list = (await w.api("GET", `/v1/webhooks/${hook.id}/deliveries`)).body;
    expect(list.meta).toEqual({ page: 1, per_page: 25, total: 2 });
    expect(list.data.map((d: any) => d.event)).toEqual(["ticket.created", "ticket.created"]);
    const payloadIds = [];
    for (const d of list.data) {
      expect(d).toEqual({
        id: expect.stringMatching(/^dlv_/),
        webhook_id: hook.id,
        event_id: expect.stringMatching(/^evt_/),
        event: "ticket.created",
        status: "succeeded",
        attempt_count: 1,
        next_attempt_at: null,
        created_at: expect.any(String),
        updated_at: expect.any(String),
      });
      const detail = (await w.api("GET", `/v1/webhooks/${hook.id}/deliveries/${d.id}`)).body;
      payloadIds.push(detail.payload.data.id);
      expect(detail.attempts).toEqual([
        { attempted_at: expect.any(String), status_code: 204, error: null, duration_ms: expect.any(Number), response_body: "" },
      ]);
    }
    expect(new Set(payloadIds)).toEqual(new Set([a.id, b.id]));
    expect((await w.api("GET", `/v1/webhooks/${hook.id}/deliveries?status=pending`)).body.data).toEqual([]);
    const bad = await w.api("GET", `/v1/webhooks/${hook.id}/deliveries?status=lost`);
    expect(bad.status).toBe(400);
    expect(bad.body.details[0].field).toBe("status");
    expect((await w.api("GET", `/v1/webhooks/${hook.id}/deliveries/dlv_nope`)).status).toBe(404);
  });
});
