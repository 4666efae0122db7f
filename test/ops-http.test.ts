// Access log fields (route pattern, status, org id; never a key), CORS (off unless origins are set), --trust-proxy (X-Forwarded-* only when set).
import { describe, expect, test } from "bun:test";
import { buildApp } from "../src/app";
import type { Config } from "../src/config";
import { createLogger } from "../src/lib/log";
import { createTestEnv, testDeps, type TestEnv } from "./helpers";

const settle = () => new Promise<void>((r) => setImmediate(r));

/** The real app on the test env's database, logging into an array. */
function appWithLog(env: TestEnv, config: Partial<Config> = {}) {
  const lines: Record<string, any>[] = [];
  const raw: string[] = [];
  const log = createLogger({
    level: "info",
    write: (l) => {
      raw.push(l);
      lines.push(JSON.parse(l));
    },
  });
  const app = buildApp(testDeps(env, { config, log }));
  const request = (path: string, init: RequestInit = {}) => app.handle(new Request(`http://localhost${path}`, init));
  const access = () => lines.filter((l) => l.msg === "request");
  return { app, lines, raw, request, access };
}

describe("access log", () => {
  test("one JSON line per request: route pattern, the status actually sent, org id when authenticated; never the key", async () => {
    const env = await createTestEnv();
    try {
      const org = await env.org();
      const { request, access, raw } = appWithLog(env);
      const auth = { authorization: `Bearer ${org.key}` };
      const created = await request("/v1/tickets", {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ subject: "hi" }),
      });
      const id = ((await created.json()) as any).id;
      await request(`/v1/tickets/${id}`, { headers: auth });
      await request("/v1/tickets/tkt_missing000000", { headers: auth });
      await request("/v1/tickets", { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: "{}" });
      await request("/v1/tickets", { method: "PUT", headers: auth });
      await request("/v1/tickets", { headers: { authorization: "Bearer cc_live_wrongwrongwrong" } });
      await request("/nowhere?token=abc");
      await settle();

      const got = access().map(({ method, route, path, status, org_id }) => ({ method, route, path, status, org_id }));
      expect(got).toEqual([
        { method: "POST", route: "/v1/tickets", path: undefined, status: 201, org_id: org.orgId },
        { method: "GET", route: "/v1/tickets/:id", path: undefined, status: 200, org_id: org.orgId },
        { method: "GET", route: "/v1/tickets/:id", path: undefined, status: 404, org_id: org.orgId },
        { method: "POST", route: "/v1/tickets", path: undefined, status: 400, org_id: org.orgId },
        { method: "PUT", route: null, path: "/v1/tickets", status: 405, org_id: undefined },
        { method: "GET", route: "/v1/tickets", path: undefined, status: 401, org_id: undefined },
        { method: "GET", route: null, path: "/nowhere", status: 404, org_id: undefined },
      ]);
      for (const l of access()) {
        expect(l).toMatchObject({ time: expect.any(String), level: "info", request_id: expect.any(String), duration_ms: expect.any(Number) });
      }
      const all = raw.join("\n");
      expect(all).not.toContain(org.key);
      expect(all).not.toContain("wrongwrongwrong");
      expect(all).not.toContain("token=abc");
      expect(all.toLowerCase()).not.toContain("bearer");
    } finally {
      env.close();
    }
  });
});

describe("CORS", () => {
  const origin = "https://app.example.com";

  test("off by default: no CORS headers, and a preflight is not answered", async () => {
    const env = await createTestEnv();
    try {
      const org = await env.org();
      const { request } = appWithLog(env);
      const res = await request("/v1/tickets", { headers: { origin, authorization: `Bearer ${org.key}` } });
      expect(res.status).toBe(200);
      expect(res.headers.get("access-control-allow-origin")).toBeNull();
      const pre = await request("/v1/tickets", { method: "OPTIONS", headers: { origin, "access-control-request-method": "POST" } });
      expect(pre.status).not.toBe(204);
      expect(pre.headers.get("access-control-allow-origin")).toBeNull();
    } finally {
      env.close();
    }
  });

  test("an allowlist: allowed origins get headers on answers and errors and a 204 preflight; others get nothing", async () => {
    const env = await createTestEnv();
    try {
      const org = await env.org();
      const { request } = appWithLog(env, { corsOrigins: [origin] });
      const ok = await request("/v1/tickets", { headers: { origin, authorization: `Bearer ${org.key}` } });
      expect(ok.status).toBe(200);
      expect(ok.headers.get("access-control-allow-origin")).toBe(origin);
      expect(ok.headers.get("vary")).toBe("Origin");
      expect(ok.headers.get("access-control-expose-headers")).toContain("x-request-id");
      // Errors too, or a browser script could not read why its call failed.
      const denied = await request("/v1/tickets", { headers: { origin } });
      expect(denied.status).toBe(401);
      expect(denied.headers.get("access-control-allow-origin")).toBe(origin);

      const pre = await request("/v1/tickets", {
        method: "OPTIONS",
        headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" },
      });
      expect(pre.status).toBe(204);
      expect(pre.headers.get("access-control-allow-origin")).toBe(origin);
      expect(pre.headers.get("access-control-allow-methods")).toContain("POST");
      expect(pre.headers.get("access-control-allow-headers")).toContain("authorization");
      expect(pre.headers.get("access-control-allow-credentials")).toBeNull();

      const other = await request("/v1/tickets", { headers: { origin: "https://evil.example.com", authorization: `Bearer ${org.key}` } });
      expect(other.headers.get("access-control-allow-origin")).toBeNull();
      const otherPre = await request("/v1/tickets", {
        method: "OPTIONS",
        headers: { origin: "https://evil.example.com", "access-control-request-method": "POST" },
      });
      expect(otherPre.status).not.toBe(204);
      expect(otherPre.headers.get("access-control-allow-origin")).toBeNull();
    } finally {
      env.close();
    }
  });

  test('"*" allows any origin', async () => {
    const env = await createTestEnv();
    try {
      const { request } = appWithLog(env, { corsOrigins: ["*"] });
      const res = await request("/healthz", { headers: { origin: "https://anything.example.org" } });
      expect(res.headers.get("access-control-allow-origin")).toBe("*");
    } finally {
      env.close();
    }
  });
});

describe("--trust-proxy", () => {
  async function loggedClient(trustProxy: boolean, headers: Record<string, string>) {
    const env = await createTestEnv();
    const { app, access } = appWithLog(env, { trustProxy });
    app.listen({ hostname: "127.0.0.1", port: 0, reusePort: false });
    try {
      const res = await fetch(`http://127.0.0.1:${app.server!.port}/healthz`, { headers });
      expect(res.status).toBe(200);
      await settle();
      const line = access().at(-1)!;
      return { ip: line.ip, scheme: line.scheme };
    } finally {
      await app.stop(true);
      env.close();
    }
  }

  test("off (default): X-Forwarded-For and -Proto are ignored; the socket's address is logged", async () => {
    expect(await loggedClient(false, { "x-forwarded-for": "203.0.113.9", "x-forwarded-proto": "https" })).toEqual({ ip: "127.0.0.1", scheme: "http" });
  });

  test("on: the last X-Forwarded-For hop (the one the proxy added) and X-Forwarded-Proto", async () => {
    expect(await loggedClient(true, { "x-forwarded-for": "198.51.100.1, 203.0.113.9", "x-forwarded-proto": "https" })).toEqual({
      ip: "203.0.113.9",
      scheme: "https",
    });
    expect(await loggedClient(true, {})).toEqual({ ip: "127.0.0.1", scheme: "http" });
  });
});
