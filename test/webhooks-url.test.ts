// Webhook URLs: strict parsing and the stored normal form, URLs that cannot be sent never holding a slot (stored before the check too), and credentials masked everywhere but on the wire.
import { afterEach, describe, expect, test } from "bun:test";
import { createLogger } from "../src/lib/log";
import { createAddressGuard, systemResolver } from "../src/webhooks/ssrf";
import { sendAttempt } from "../src/webhooks/transport";
import { maskUrl, normalizeWebhookUrl } from "../src/webhooks/url";
import { until, webhookEnv, type WebhookEnv, receiverPool } from "./webhooks-fixtures";

let w: WebhookEnv | undefined;
const receivers = receiverPool();
const receiver = receivers.start;

afterEach(async () => {
  await w?.close();
  w = undefined;
  receivers.stopAll();
});

async function attemptsOf(env: WebhookEnv, hookId: string) {
  return (await env.env.db.all(
    "SELECT a.status_code, a.error FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id WHERE d.webhook_id = ? ORDER BY a.id",
    hookId,
  )) as { status_code: number | null; error: string | null }[];
}

describe("registration parses strictly and stores the normal form", () => {
  test.each([
    ["http://a%zz@127.0.0.1/hook", "has a bad percent-escape"],
    ["http://127.0.0.1/a%zz", "has a bad percent-escape"],
    ["http://127.0.0.1/x?q=%", "has a bad percent-escape"],
    ["http://127.0.0.1/x%2", "has a bad percent-escape"],
    ["http://%ff:pw@127.0.0.1/x", "has credentials that are not valid percent-encoded UTF-8."],
    ["http://127.0.0.1/a b", "must not contain spaces or control characters"],
    ["http://exa\tmple.com/", "must not contain spaces or control characters"],
    ["http://127.0.0.1/x\ny", "must not contain spaces or control characters"],
    ["http://127.0.0.1/x#frag", "must not contain a fragment"],
    ["http://127.0.0.1/x#", "must not contain a fragment"],
    ["ftp://127.0.0.1/x", "must be an absolute http or https URL."],
    ["file:///etc/passwd", "must be an absolute http or https URL."],
    ["javascript:alert(1)", "must be an absolute http or https URL."],
    ["mailto:ops@example.com", "must be an absolute http or https URL."],
    ["http://", "must be an absolute http or https URL."],
    ["//127.0.0.1/x", "must be an absolute http or https URL."],
  ])("%j is a 400 validation_error on url (%s)", async (url, message) => {
    w ??= await webhookEnv({ start: false });
    const res = await w.api("POST", "/v1/webhooks", { url, events: ["*"] });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe("validation_error");
    expect(res.body.details).toEqual([{ field: "url", message: expect.stringContaining(message) }]);
    expect(res.body.message).toStartWith("The request body is not valid: url ");
  });

  test.each([
    ["HTTP://127.0.0.1:80/a/./b/../c?x=1", "http://127.0.0.1/a/c?x=1"],
    ["https://127.0.0.1:443", "https://127.0.0.1/"],
    ["http://0x7f.1:8080/x", "http://127.0.0.1:8080/x"],
    ["http://127.0.0.1/ünïcode?q=é", "http://127.0.0.1/%C3%BCn%C3%AFcode?q=%C3%A9"],
    ["http://127.0.0.1/already%2Fencoded%20ok", "http://127.0.0.1/already%2Fencoded%20ok"],
    ["http:\\\\127.0.0.1\\x", "http://127.0.0.1/x"],
    ["  http://[::FFFF:127.0.0.1]/x\n", "http://[::ffff:7f00:1]/x"], // surrounding whitespace is trimmed
  ])("%j is stored and returned as %j (create, GET, list and PATCH)", async (input, normal) => {
    w ??= await webhookEnv({ start: false });
    const created = await w.api("POST", "/v1/webhooks", { url: input, events: ["*"] });
    expect(created.status).toBe(201);
    expect(created.body.url).toBe(normal);
    expect((await w.api("GET", `/v1/webhooks/${created.body.id}`)).body.url).toBe(normal);
    const row = (await w.env.db.get("SELECT url FROM webhooks WHERE id = ?", created.body.id)) as { url: string };
    expect(row.url).toBe(normal);
    // The normal form is a fixed point: registering it again gives it back unchanged.
    expect(normalizeWebhookUrl(normal)).toEqual({ ok: true, url: normal });
    const patched = await w.api("PATCH", `/v1/webhooks/${created.body.id}`, { url: input });
    expect(patched.status).toBe(200);
    expect(patched.body.url).toBe(normal);
  });

  test("PATCH refuses the same URLs as POST and leaves the stored one alone", async () => {
    w = await webhookEnv({ start: false });
    const hook = await w.register("http://127.0.0.1:9/ok");
    const res = await w.api("PATCH", `/v1/webhooks/${hook.id}`, { url: "http://a%zz@127.0.0.1/" });
    expect(res.status).toBe(400);
    expect(res.body.details).toEqual([{ field: "url", message: "has a bad percent-escape: % must be followed by two hex digits." }]);
    expect((await w.api("GET", `/v1/webhooks/${hook.id}`)).body.url).toBe("http://127.0.0.1:9/ok");
  });
});

describe("a URL that cannot be sent never holds a slot", () => {
  test("the transport never rejects: a bad stored URL or a throwing request is an attempt result", async () => {
    const opts = { timeoutMs: 1000, guard: createAddressGuard({ allowPrivate: true, allowCidrs: [] }), resolve: systemResolver };
    const r = receiver();
    const bad = await sendAttempt({ url: "http://a%zz@127.0.0.1/", body: "{}", headers: {} }, opts);
    expect(bad).toMatchObject({
      statusCode: null,
      aborted: false,
      error: "invalid URL: it has credentials that are not valid percent-encoded UTF-8; PATCH the webhook with a valid url",
    });
    // node:http throws synchronously on a header value with a newline; that too comes back as a result.
    const thrown = await sendAttempt({ url: r.url, body: "{}", headers: { "x-bad": "a\nb" } }, opts);
    expect(thrown).toMatchObject({ statusCode: null, aborted: false, error: expect.stringMatching(/^could not send: /) });
    expect(r.requests).toHaveLength(0);
    // What an older version stored and delivered fine (a stray % in the path) still goes out.
    const lax = await sendAttempt({ url: `${r.url}/a%zz`, body: "{}", headers: {} }, opts);
    expect(lax.statusCode).toBe(204);
    expect(r.requests.map((q) => q.path)).toEqual(["/a%zz"]);
  });

  test("endpoints stored with bad URLs before the check (pending across a restart) fail their attempts cleanly; every slot comes back and other organizations' deliveries go out", async () => {
    // Two global slots and two bad endpoints: before the fix both slots stayed taken forever and nothing else was sent.
    w = await webhookEnv({ config: { webhookConcurrency: 2, webhookRetryBaseMs: 60_000 }, start: false });
    const good = receiver();
    const badHooks: { id: string }[] = [];
    for (const path of ["a", "b", "c"]) {
      const hook = await w.register(`${good.url}/${path}`, ["ticket.created"]);
      // As a server before this fix would have stored them.
      await w.env.db.run("UPDATE webhooks SET url = ? WHERE id = ?", `http://a%zz@127.0.0.1:${good.port}/${path}`, hook.id);
      badHooks.push(hook);
    }
    expect((await w.api("GET", `/v1/webhooks/${badHooks[0].id}`)).status).toBe(200); // still readable
    const other = await w.env.org("Other Org");
    const goodHook = (await w.api("POST", "/v1/webhooks", { url: `${good.url}/good`, events: ["ticket.created"] }, other.key)).body;
    await w.createTicket();
    await w.createTicket();
    expect((await w.api("POST", "/v1/tickets", { subject: "Elsewhere" }, other.key)).status).toBe(201);

    w.dispatcher.start();
    await until(() => good.delivered.size === 1, "the other organization's delivery");
    expect(good.requests.map((q) => q.path)).toEqual(["/good"]);
    await until(
      () => badHooks.every(async (h) => (await attemptsOf(w!, h.id)).length === 2) && w!.dispatcher.inFlight() === 0,
      "every bad delivery attempted, no slot held",
    );
    for (const h of badHooks) {
      for (const a of await attemptsOf(w, h.id)) {
        expect(a).toEqual({
          status_code: null,
          error: "invalid URL: it has credentials that are not valid percent-encoded UTF-8; PATCH the webhook with a valid url",
        });
      }
    }
    expect(await attemptsOf(w, goodHook.id)).toEqual([{ status_code: 204, error: null }]);
  });
});

describe("credentials in the URL", () => {
  test("the password is masked in every response and log line, stored, and sent for real", async () => {
    const lines: string[] = [];
    w = await webhookEnv({ log: createLogger({ level: "debug", write: (l) => lines.push(l) }), config: { webhookRetryBaseMs: 60_000 } });
    let status = 204;
    const r = receiver(() => new Response("nope", { status }));
    const url = `http://alice:s3cr%40t-pw@127.0.0.1:${r.port}/hook`;
    const masked = `http://alice:****@127.0.0.1:${r.port}/hook`;
    const created = await w.api("POST", "/v1/webhooks", { url, events: ["*"] });
    expect(created.status).toBe(201);
    expect(created.body.url).toBe(masked);
    const seen: unknown[] = [created.body];
    seen.push((await w.api("GET", `/v1/webhooks/${created.body.id}`)).body);
    seen.push((await w.api("GET", "/v1/webhooks")).body);
    seen.push((await w.api("POST", `/v1/webhooks/${created.body.id}/rotate-secret`)).body);
    seen.push((await w.api("PATCH", `/v1/webhooks/${created.body.id}`, { description: "x" })).body);
    for (const body of seen) expect(JSON.stringify(body)).toContain(masked);

    // Stored whole: delivery needs it.
    expect(((await w.env.db.get("SELECT url FROM webhooks WHERE id = ?", created.body.id)) as { url: string }).url).toBe(url);
    await w.createTicket();
    await until(() => r.delivered.size === 1, "the delivery");
    expect(r.requests[0]!.headers.authorization).toBe(`Basic ${Buffer.from("alice:s3cr@t-pw").toString("base64")}`);

    // PATCHing back the URL as shown keeps the real password.
    expect((await w.api("PATCH", `/v1/webhooks/${created.body.id}`, { url: masked })).body.url).toBe(masked);
    expect(((await w.env.db.get("SELECT url FROM webhooks WHERE id = ?", created.body.id)) as { url: string }).url).toBe(url);
    status = 500;
    await w.createTicket("Second");
    await until(() => r.requests.length === 2 && w!.dispatcher.inFlight() === 0, "the failed attempt, recorded");
    expect(r.requests[1]!.headers.authorization).toBe(r.requests[0]!.headers.authorization);

    const deliveries = (await w.api("GET", `/v1/webhooks/${created.body.id}/deliveries`)).body;
    seen.push(deliveries);
    for (const d of deliveries.data) seen.push((await w.api("GET", `/v1/webhooks/${created.body.id}/deliveries/${d.id}`)).body);
    seen.push((await w.api("POST", `/v1/webhooks/${created.body.id}/test`)).body);
    const everything = JSON.stringify(seen) + lines.join("\n");
    expect(lines.some((l) => l.includes("webhook attempt failed"))).toBe(true);
    for (const secret of ["s3cr", "s3cr%40t-pw", "s3cr@t-pw"]) expect(everything).not.toContain(secret);
  });

  test("a user name without a password is taken for a token and masked too; URLs without credentials are shown as they are", () => {
    expect(maskUrl("https://tok_abcdef@hooks.example.com/x")).toBe("https://****@hooks.example.com/x");
    expect(maskUrl("https://u:p@hooks.example.com/x?y=1")).toBe("https://u:****@hooks.example.com/x?y=1");
    expect(maskUrl("https://hooks.example.com/x")).toBe("https://hooks.example.com/x");
    // A stored URL that no longer parses is still masked, never an error.
    expect(maskUrl("http://a%zz:secret@[bad/")).toBe("http://****@[bad/");
  });
});
