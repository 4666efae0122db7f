// Hardening over real HTTP with a real server process: API keys, webhook secrets, the metrics token and Authorization
// headers never reach the logs, error bodies or metrics; request heads are bounded by Bun (431); HEAD answers carry no body.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { connect } from "node:net";
import { runCli, startServerProcess, tempDir, type ServerProcess } from "./helpers";
import { startReceiver, waitFor, type Receiver } from "./webhooks-fixtures";

const dir = tempDir("hardening");
const METRICS_TOKEN = "metrics-token-7c1f0e9a4b2d";
const RECEIVER_PASSWORD = "receiver-basic-auth-pw-93b1";
let server: ServerProcess;
let receiver: Receiver;
let keyA: string;
let keyB: string;
/** Every secret the test handed to or got from the server; none may appear in its output. */
const secrets: string[] = [METRICS_TOKEN, RECEIVER_PASSWORD];

/** Sends bytes as they are and returns everything the server wrote back before closing. */
function raw(url: string, text: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let got = "";
    socket.on("data", (d) => (got += d.toString("latin1")));
    socket.on("close", () => resolve(got));
    socket.on("error", () => resolve(got));
    socket.on("connect", () => socket.write(text));
  });
}

beforeAll(async () => {
  receiver = startReceiver();
  expect(runCli(["migrate", "--data-dir", dir]).code).toBe(0);
  const mk = (name: string) => {
    const org = JSON.parse(runCli(["orgs", "create", "--name", name, "--json", "--data-dir", dir]).stdout);
    return JSON.parse(runCli(["keys", "create", "--org", org.id, "--json", "--data-dir", dir]).stdout).key as string;
  };
  keyA = mk("Acme");
  keyB = mk("Beta");
  secrets.push(keyA, keyB);
  // The most talkative configuration: debug logs, metrics on the API listener behind a token.
  server = await startServerProcess(
    [
      "--data-dir",
      dir,
      "--port",
      "0",
      "--host",
      "127.0.0.1",
      "--log-level",
      "debug",
      "--metrics",
      "--metrics-token",
      METRICS_TOKEN,
      "--rate-limit-per-minute",
      "0",
    ],
    { env: { CLIENTCOVE_WEBHOOK_ALLOW_PRIVATE: "true", CLIENTCOVE_WEBHOOK_RETRY_BASE_MS: "20", CLIENTCOVE_AUTH_FAILURES_PER_MINUTE: "0" } },
  );
});

afterAll(async () => {
  await server?.stop("SIGKILL");
  receiver.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("secrets never reach logs, error bodies or metrics", () => {
  test("keys, webhook secrets, the metrics token and Authorization headers are absent from stdout/stderr after a busy session", async () => {
    const base = server.url;
    const send = async (key: string | null, method: string, path: string, json?: unknown, headers: Record<string, string> = {}) => {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(json !== undefined ? { "content-type": "application/json" } : {}), ...headers },
        body: json === undefined ? undefined : JSON.stringify(json),
      });
      const text = await res.text();
      return { status: res.status, text, body: text.startsWith("{") ? JSON.parse(text) : null };
    };

    // Webhooks: one reachable, one whose URL carries a password and points at a closed port (failed attempts get logged).
    const hook = await send(keyA, "POST", "/v1/webhooks", { url: `${receiver.url}/hook`, events: ["*"] });
    expect(hook.status).toBe(201);
    secrets.push(hook.body.secret, hook.body.secret.slice("whsec_".length));
    const failing = await send(keyA, "POST", "/v1/webhooks", { url: `http://user:${RECEIVER_PASSWORD}@127.0.0.1:9/hook`, events: ["ticket.created"] });
    expect(failing.status).toBe(201);
    secrets.push(failing.body.secret);
    const rotated = await send(keyA, "POST", `/v1/webhooks/${hook.body.id}/rotate-secret`);
    expect(rotated.status).toBe(200);
    secrets.push(rotated.body.secret, rotated.body.secret.slice("whsec_".length));

    // Ordinary traffic, and every way a key can be presented wrongly.
    for (let i = 0; i < 5; i++) expect((await send(keyA, "POST", "/v1/tickets", { subject: `ticket ${i}` }, { "idempotency-key": `k${i}` })).status).toBe(201);
    expect((await send(keyB, "GET", "/v1/tickets")).status).toBe(200);
    expect((await send(keyA, "POST", `/v1/webhooks/${hook.body.id}/test`)).status).toBe(202);
    const wrong = [
      await send(`${keyA}x`, "GET", "/v1/tickets"),
      await send(null, "GET", "/v1/tickets", undefined, { authorization: `Basic ${btoa(`${keyA}:`)}` }),
      await send(null, "GET", "/v1/tickets", undefined, { authorization: `Token ${keyA}` }),
      await send(null, "GET", `/v1/tickets?api_key=${keyA}&access_token=${keyB}`),
      await send(null, "GET", `/v1/no-such-route?key=${keyA}`),
      await send(keyA.toUpperCase(), "DELETE", "/v1/tickets/tkt_0000000000000000"),
    ];
    for (const r of wrong) {
      expect(r.status).toBeGreaterThanOrEqual(400);
      for (const s of secrets) expect(r.text).not.toContain(s);
    }
    // A body that is not JSON, a body that is too deep, a field named like a secret: errors name fields, never values.
    const bad = await send(keyA, "POST", "/v1/tickets", { subject: keyB, password: keyB });
    expect(bad.status).toBe(400);
    expect(bad.text).not.toContain(keyB);

    // Metrics: the right token scrapes, a wrong one is a 401; the scrape names no secret.
    const scrape = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(scrape.status).toBe(200);
    const metrics = await scrape.text();
    expect(metrics).toContain("http_requests");
    for (const s of secrets) expect(metrics).not.toContain(s);
    const denied = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}x` } });
    expect(denied.status).toBe(401);
    expect(await denied.text()).not.toContain(METRICS_TOKEN);

    // Deliveries went out (signed with the secrets above) and the failing endpoint's attempts were logged as failures.
    await waitFor(() => receiver.requests.length >= 6, "deliveries to the receiver");
    await waitFor(() => server.stdout().includes("webhook attempt failed"), "a failed attempt in the log");
    expect(await server.stop("SIGTERM")).toBe(0);

    const output = server.stdout() + server.stderr();
    expect(output).toContain('"msg":"request"');
    for (const s of secrets) expect({ secret: `${s.slice(0, 6)}…`, inLogs: output.includes(s) }).toEqual({ secret: `${s.slice(0, 6)}…`, inLogs: false });
    expect(output).not.toMatch(/Bearer\s+\S/);
    expect(output).not.toMatch(/authorization/i);
    expect(output).not.toMatch(/whsec_/);
    console.log(`hardening: ${output.split("\n").filter(Boolean).length} log lines scanned for ${secrets.length} secrets: none found`);
  }, 30_000);
});

describe("request size bounds (enforced by Bun's HTTP parser before our code runs)", () => {
  let other: ServerProcess;
  beforeAll(async () => {
    other = await startServerProcess(["--data-dir", dir, "--port", "0", "--host", "127.0.0.1", "--rate-limit-per-minute", "0"]);
  });
  afterAll(async () => {
    await other?.stop("SIGKILL");
  });

  test("a request head (request line + headers) over 16 KiB, or with about 200 headers or more, is a 431 with no body; the server keeps serving", async () => {
    const auth = { authorization: `Bearer ${keyA}` };
    // An 8 KiB query string is fine: unknown parameters are ignored.
    const fine = await fetch(`${other.url}/v1/tickets?utm=${"a".repeat(8 * 1024)}`, { headers: auth });
    expect(fine.status).toBe(200);
    const longQuery = await fetch(`${other.url}/v1/tickets?utm=${"a".repeat(17 * 1024)}`, { headers: auth });
    expect(longQuery.status).toBe(431);
    expect(await longQuery.text()).toBe("");
    const bigHeader = await fetch(`${other.url}/v1/tickets`, { headers: { ...auth, "x-padding": "p".repeat(17 * 1024) } });
    expect(bigHeader.status).toBe(431);
    const many = Object.fromEntries(Array.from({ length: 250 }, (_, i) => [`x-h${i}`, "v"]));
    const manyHeaders = await fetch(`${other.url}/v1/tickets`, { headers: { ...auth, ...many } });
    expect(manyHeaders.status).toBe(431);
    // Nothing lingers: the next ordinary request is served.
    expect((await fetch(`${other.url}/v1/tickets`, { headers: auth })).status).toBe(200);
  });

  test("HEAD answers, errors included, carry headers but no body bytes on the wire", async () => {
    for (const path of ["/v1/tickets", "/v1/tickets/tkt_0000000000000000", "/v1/nope", "/healthz"]) {
      const reply = await raw(other.url, `HEAD ${path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${keyA}\r\nConnection: close\r\n\r\n`);
      const [head, body] = [reply.slice(0, reply.indexOf("\r\n\r\n")), reply.slice(reply.indexOf("\r\n\r\n") + 4)];
      expect(head).toMatch(/^HTTP\/1\.1 (200|404) /);
      expect(head.toLowerCase()).toContain("x-content-type-options: nosniff");
      expect(body).toBe("");
    }
  });
});
