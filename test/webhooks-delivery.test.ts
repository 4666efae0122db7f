// What a receiver gets: exact payload and headers, signatures verified with the standardwebhooks package, filtering, test pings, secret rotation.
import { afterEach, describe, expect, test } from "bun:test";
import { Webhook as Verifier } from "standardwebhooks";
import { manualClock } from "../src/lib/clock";
import { VERSION } from "../src/version";
import { until, webhookEnv, type WebhookEnv, receiverPool } from "./webhooks-fixtures";

let w: WebhookEnv;
const receivers = receiverPool();
const receiver = receivers.start;

afterEach(async () => {
  await w?.close();
  receivers.stopAll();
});

describe("payload and headers", () => {
  test("a ticket.created delivery is exactly {event, timestamp, data}, with Standard Webhooks headers a reference verifier accepts", async () => {
    // A manual clock set to now: the reference verifier still accepts the timestamp, and the test knows it exactly.
    const clock = manualClock(Date.now());
    w = await webhookEnv({ clock });
    const r = receiver();
    const hook = await w.register(`${r.url}/hooks/clientcove`, ["ticket.created"]);
    expect(hook.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(hook.secret.slice(6), "base64").length).toBeGreaterThanOrEqual(24);
    const ticket = await w.createTicket("Login issues on mobile");
    await until(() => r.requests.length === 1, "the delivery");
    const got = r.requests[0]!;

    expect(got.method).toBe("POST");
    expect(got.path).toBe("/hooks/clientcove");
    expect(Object.keys(got.json)).toEqual(["event", "timestamp", "data"]);
    expect(got.json).toEqual({ event: "ticket.created", timestamp: ticket.created_at, data: ticket });
    expect(got.json.data.created_by).toStartWith("user_");
    expect(got.headers["content-type"]).toBe("application/json");
    expect(got.headers["user-agent"]).toBe(`ClientCove-Webhooks/${VERSION}`);
    expect(got.headers["webhook-id"]).toMatch(/^dlv_[0-9a-z]+$/);
    expect(Number(got.headers["webhook-timestamp"])).toBe(Math.floor(clock.now() / 1000));
    expect(got.headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);

    // The reference verifier, unchanged: it checks the signature over "<id>.<timestamp>.<body>" and the timestamp window.
    const verified = new Verifier(hook.secret).verify(got.body, got.headers);
    expect(verified).toEqual(got.json);
    // A wrong secret or a changed body does not verify.
    expect(() => new Verifier("whsec_" + Buffer.alloc(32, 7).toString("base64")).verify(got.body, got.headers)).toThrow();
    expect(() => new Verifier(hook.secret).verify(got.body.replace("Login", "Logout"), got.headers)).toThrow();

    // The delivery log shows the same id, payload and a succeeded attempt.
    const list = await w.api("GET", `/v1/webhooks/${hook.id}/deliveries`);
    expect(list.body.data).toHaveLength(1);
    const d = list.body.data[0];
    expect(d.id).toBe(got.headers["webhook-id"]);
    await until(async () => (await w.api("GET", `/v1/webhooks/${hook.id}/deliveries/${d.id}`)).body.status === "succeeded", "succeeded status");
    const detail = (await w.api("GET", `/v1/webhooks/${hook.id}/deliveries/${d.id}`)).body;
    expect(detail.payload).toEqual(got.json);
    expect(detail.attempts).toHaveLength(1);
    expect(detail.attempts[0]).toEqual(expect.objectContaining({ status_code: 204, error: null }));
  });

  test("ticket.updated carries data.changed_fields; ticket.deleted the ticket as it was", async () => {
    w = await webhookEnv();
    const r = receiver();
    const hook = await w.register(r.url, ["ticket.updated", "ticket.deleted"]);
    const ticket = await w.createTicket();
    const updated = (await w.api("PATCH", `/v1/tickets/${ticket.id}`, { status: "resolved", priority: "high" })).body;
    expect((await w.api("DELETE", `/v1/tickets/${ticket.id}`)).status).toBe(204);
    await until(() => r.requests.length === 2, "two deliveries");
    const byEvent = Object.fromEntries(r.requests.map((q) => [q.json.event, q.json]));
    // priority was already high: only status changed.
    expect(byEvent["ticket.updated"].data).toEqual({ ...updated, changed_fields: ["status"] });
    expect(byEvent["ticket.deleted"].data).toEqual(updated);
    for (const q of r.requests) expect(new Verifier(hook.secret).verify(q.body, q.headers)).toBeTruthy();
  });
});

describe("file events", () => {
  test("file.uploaded and file.deleted carry the file as the API returns it, without its expiring download_url", async () => {
    w = await webhookEnv();
    const r = receiver();
    const hook = await w.register(r.url, ["file.uploaded", "file.deleted"]);
    const fd = new FormData();
    fd.append("file", new Blob(["hello webhooks"], { type: "text/plain" }), "notes.txt");
    const res = await w.env.request("/v1/files", { method: "POST", key: w.key, body: fd });
    expect(res.status).toBe(201);
    const file = (await res.json()) as Record<string, unknown>;
    expect((await w.api("DELETE", `/v1/files/${file.id}`)).status).toBe(204);
    await until(() => r.requests.length === 2, "two file deliveries");
    const { download_url: _, ...withoutLink } = file;
    const byEvent = Object.fromEntries(r.requests.map((q) => [q.json.event, q.json]));
    expect(byEvent["file.uploaded"].data).toEqual(withoutLink);
    expect(byEvent["file.deleted"].data).toEqual(withoutLink);
    for (const q of r.requests) expect(new Verifier(hook.secret).verify(q.body, q.headers)).toBeTruthy();
  });
});

describe("event filtering", () => {
  test("each endpoint gets exactly the types it subscribed to; * gets them all; another org's endpoints get nothing", async () => {
    w = await webhookEnv();
    const created = receiver();
    const all = receiver();
    const updated = receiver();
    const otherOrg = receiver();
    await w.register(created.url, ["ticket.created"]);
    await w.register(all.url, ["*"]);
    await w.register(updated.url, ["ticket.updated", "file.uploaded"]);
    const other = await w.env.org("Other Co");
    expect((await w.api("POST", "/v1/webhooks", { url: otherOrg.url, events: ["*"] }, other.key)).status).toBe(201);

    const t = await w.createTicket();
    await w.api("PATCH", `/v1/tickets/${t.id}`, { subject: "Renamed" });
    await w.api("DELETE", `/v1/tickets/${t.id}`);
    // A marker event to the catch-all endpoint last: once it arrives, every earlier fan-out is done too.
    await until(() => all.requests.length === 3, "all three events at *");
    await until(() => created.requests.length === 1 && updated.requests.length === 1, "filtered deliveries");
    expect(all.requests.map((q) => q.json.event).sort()).toEqual(["ticket.created", "ticket.deleted", "ticket.updated"]);
    expect(created.requests.map((q) => q.json.event)).toEqual(["ticket.created"]);
    expect(updated.requests.map((q) => q.json.event)).toEqual(["ticket.updated"]);
    expect(otherOrg.requests).toHaveLength(0);
    const theirs = (await w.env.db.get("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE org_id = ?", other.orgId)) as { n: number };
    expect(theirs.n).toBe(0);
    // Each event fanned out once: the outbox marks it dispatched.
    const undispatched = (await w.env.db.get("SELECT COUNT(*) AS n FROM events WHERE dispatched_at IS NULL")) as { n: number };
    expect(undispatched.n).toBe(0);
  });
});

describe("test ping", () => {
  test("POST /test queues a webhook.test event to that endpoint alone, even one not subscribed to it", async () => {
    w = await webhookEnv();
    const target = receiver();
    const bystander = receiver();
    const hook = await w.register(target.url, ["ticket.created"]);
    await w.register(bystander.url, ["*"]);
    const res = await w.api("POST", `/v1/webhooks/${hook.id}/test`);
    expect(res.status).toBe(202);
    expect(res.body).toEqual(expect.objectContaining({ webhook_id: hook.id, event: "webhook.test", status: "pending", attempt_count: 0 }));
    await until(() => target.requests.length === 1, "the ping");
    const ping = target.requests[0]!;
    expect(ping.headers["webhook-id"]).toBe(res.body.id);
    expect(ping.json.event).toBe("webhook.test");
    expect(ping.json.data).toEqual({ webhook_id: hook.id, message: "This is a test event from Client Cove." });
    expect(new Verifier(hook.secret).verify(ping.body, ping.headers)).toBeTruthy();
    // Give any stray fan-out the time of one more full round trip to show up at the bystander.
    await w.createTicket();
    await until(() => bystander.requests.length >= 1, "the bystander's ticket event");
    expect(bystander.requests.map((q) => q.json.event)).toEqual(["ticket.created"]);
    const types = (await w.env.db.all("SELECT event_type FROM webhook_deliveries WHERE webhook_id != ?", hook.id)) as { event_type: string }[];
    expect(types.map((t) => t.event_type)).toEqual(["ticket.created"]);
  });
});

describe("secret rotation", () => {
  test("for 24 h after a rotation deliveries carry two signatures, and receivers holding either secret verify them", async () => {
    const clock = manualClock(Math.floor(Date.now() / 1000) * 1000); // on a whole second: the API shows seconds
    w = await webhookEnv({ clock });
    const r = receiver();
    const hook = await w.register(r.url, ["ticket.created"]);
    const rotated = await w.api("POST", `/v1/webhooks/${hook.id}/rotate-secret`);
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(hook.secret);
    const expires = Date.parse(rotated.body.previous_secret_expires_at);
    expect(expires).toBe(clock.now() + 24 * 3600_000);
    // GET never shows a secret.
    const got = await w.api("GET", `/v1/webhooks/${hook.id}`);
    expect(got.body.secret).toBeUndefined();
    expect(JSON.stringify(got.body)).not.toContain("whsec_");

    await w.createTicket();
    await until(() => r.requests.length === 1, "delivery during overlap");
    const during = r.requests[0]!;
    expect(during.headers["webhook-signature"]!.split(" ")).toHaveLength(2);
    expect(new Verifier(hook.secret).verify(during.body, during.headers)).toBeTruthy();
    expect(new Verifier(rotated.body.secret).verify(during.body, during.headers)).toBeTruthy();

    // Once the overlap is over, only the new secret signs.
    await w.env.db.run("UPDATE webhooks SET previous_secret_expires_at = ? WHERE id = ?", clock.now() - 1, hook.id);
    await w.createTicket();
    await until(() => r.requests.length === 2, "delivery after overlap");
    const after = r.requests[1]!;
    expect(after.headers["webhook-signature"]!.split(" ")).toHaveLength(1);
    expect(new Verifier(rotated.body.secret).verify(after.body, after.headers)).toBeTruthy();
    expect(() => new Verifier(hook.secret).verify(after.body, after.headers)).toThrow();
    expect((await w.api("GET", `/v1/webhooks/${hook.id}`)).body.previous_secret_expires_at).toBeNull();
  });
});
