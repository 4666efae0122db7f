// Rate limits: a token bucket per API key with RateLimit-* headers, and failed authentication limited per address.
import { afterEach, describe, expect, test } from "bun:test";
import { manualClock } from "../src/lib/clock";
import { createTokenBuckets } from "../src/guard/token-bucket";
import { createTestEnv, type TestEnv } from "./helpers";

let env: TestEnv | undefined;
afterEach(() => {
  env?.close();
  env = undefined;
});

describe("per-key token bucket", () => {
  test("allows the burst, then answers 429 rate_limited with Retry-After, and refills with time", async () => {
    const clock = manualClock();
    env = await createTestEnv({ clock, config: { rateLimitPerMinute: 60, rateLimitBurst: 3 } });
    const a = await env.org("Acme");
    const seen: { status: number; remaining: string | null }[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await env.request("/v1/tickets", { key: a.key });
      seen.push({ status: r.status, remaining: r.headers.get("ratelimit-remaining") });
      expect(r.headers.get("ratelimit-limit")).toBe("3");
      if (r.status === 429) {
        expect(r.headers.get("retry-after")).toBe("1");
        expect(await r.json()).toEqual({ error: "rate_limited", message: expect.stringContaining("Rate limit exceeded") });
      }
    }
    expect(seen).toEqual([
      { status: 200, remaining: "2" },
      { status: 200, remaining: "1" },
      { status: 200, remaining: "0" },
      { status: 429, remaining: "0" },
    ]);
    clock.advance(1000); // 60/min refills one token a second
    const again = await env.request("/v1/tickets", { key: a.key });
    expect(again.status).toBe(200);
    expect(Number(again.headers.get("ratelimit-reset"))).toBeGreaterThan(0);
  });

  test("a rejected request changes nothing: a rate-limited create makes no ticket", async () => {
    env = await createTestEnv({ config: { rateLimitPerMinute: 1, rateLimitBurst: 1 } });
    const a = await env.org("Acme");
    expect((await env.request("/v1/tickets", { key: a.key, method: "POST", json: { subject: "one" } })).status).toBe(201);
    expect((await env.request("/v1/tickets", { key: a.key, method: "POST", json: { subject: "two" } })).status).toBe(429);
    expect(await env.db.all("SELECT subject FROM tickets")).toEqual([{ subject: "one" }]);
  });

  test("keys are limited independently", async () => {
    env = await createTestEnv({ config: { rateLimitPerMinute: 1, rateLimitBurst: 1 } });
    const a = await env.org("Acme");
    const b = await env.org("Beta");
    expect((await env.request("/v1/tickets", { key: a.key })).status).toBe(200);
    expect((await env.request("/v1/tickets", { key: a.key })).status).toBe(429);
    expect((await env.request("/v1/tickets", { key: b.key })).status).toBe(200);
  });

  test("0 turns limiting off: no 429 and no RateLimit headers", async () => {
    env = await createTestEnv({ config: { rateLimitPerMinute: 0, rateLimitBurst: 1 } });
    const a = await env.org("Acme");
    for (let i = 0; i < 5; i++) {
      const r = await env.request("/v1/tickets", { key: a.key });
      expect(r.status).toBe(200);
      expect(r.headers.get("ratelimit-limit")).toBeNull();
    }
  });

  test("bucket memory stays bounded: full buckets are dropped when the map is at its cap", () => {
    const clock = manualClock();
    const buckets = createTokenBuckets({ perMinute: 60, burst: 2, clock, maxKeys: 10 });
    for (let i = 0; i < 10; i++) buckets.take(`k${i}`);
    clock.advance(60_000);
    buckets.take("new");
    expect(buckets.size()).toBe(1);
  });
});

describe("failed authentication per client address", () => {
  test("after the allowance, a bad key from that address gets 429 while a valid key from the same address still gets 200", async () => {
    const clock = manualClock();
    env = await createTestEnv({ clock, config: { authFailuresPerMinute: 3 } });
    const a = await env.org("Acme");
    const server = env.app.listen({ hostname: "127.0.0.1", port: 0, reusePort: false });
    try {
      const url = `http://127.0.0.1:${server.server!.port}/v1/tickets`;
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await fetch(url, { headers: { authorization: `Bearer cc_${"x".repeat(40)}${i}` } })).status);
      expect(statuses).toEqual([401, 401, 401, 429]);
      // One client with bad keys behind a shared address (NAT, a proxy without --trust-proxy) locks out no one else.
      for (let i = 0; i < 3; i++) {
        const ok = await fetch(url, { headers: { authorization: `Bearer ${a.key}` } });
        expect(ok.status).toBe(200);
      }
      for (const header of [`Bearer cc_${"z".repeat(40)}`, "Basic eDp5", ""]) {
        const blocked = await fetch(url, { headers: header ? { authorization: header } : {} });
        expect(blocked.status, header).toBe(429);
        expect(blocked.headers.get("retry-after")).toBe("60");
        expect(((await blocked.json()) as any).error).toBe("rate_limited");
      }
      // The window passes: bad keys are plain 401s again.
      clock.advance(60_000);
      expect((await fetch(url, { headers: { authorization: `Bearer cc_${"z".repeat(40)}` } })).status).toBe(401);
    } finally {
      server.stop(true);
    }
  });

  test("a valid key is limited only by its own bucket, also while its address is over the failure limit", async () => {
    env = await createTestEnv({ config: { authFailuresPerMinute: 1, rateLimitPerMinute: 1, rateLimitBurst: 2 } });
    const a = await env.org("Acme");
    const server = env.app.listen({ hostname: "127.0.0.1", port: 0, reusePort: false });
    try {
      const url = `http://127.0.0.1:${server.server!.port}/v1/tickets`;
      const bad = { authorization: `Bearer cc_${"q".repeat(40)}` };
      expect([(await fetch(url, { headers: bad })).status, (await fetch(url, { headers: bad })).status]).toEqual([401, 429]);
      const good = { authorization: `Bearer ${a.key}` };
      const seen = [];
      for (let i = 0; i < 3; i++) {
        const r = await fetch(url, { headers: good });
        seen.push([r.status, r.headers.get("ratelimit-remaining")]);
        await r.text();
      }
      expect(seen).toEqual([
        [200, "1"],
        [200, "0"],
        [429, "0"],
      ]);
    } finally {
      server.stop(true);
    }
  });
});

describe("failed authentication behind a trusted proxy", () => {
  test("with --trust-proxy each forwarded client has its own allowance; one client's bad keys do not lock out another", async () => {
    env = await createTestEnv({ config: { authFailuresPerMinute: 2, trustProxy: true } });
    const a = await env.org("Acme");
    const server = env.app.listen({ hostname: "127.0.0.1", port: 0, reusePort: false });
    try {
      const url = `http://127.0.0.1:${server.server!.port}/v1/tickets`;
      const as = (ip: string, key: string) => fetch(url, { headers: { authorization: `Bearer ${key}`, "x-forwarded-for": ip } });
      const bad = `cc_${"y".repeat(40)}`;
      expect([(await as("203.0.113.7", bad)).status, (await as("203.0.113.7", bad)).status, (await as("203.0.113.7", bad)).status]).toEqual([401, 401, 429]);
      expect((await as("198.51.100.9", bad)).status).toBe(401);
      expect((await as("198.51.100.9", a.key)).status).toBe(200);
      expect((await as("203.0.113.7", a.key)).status).toBe(200);
    } finally {
      server.stop(true);
    }
  });
});

describe("security headers", () => {
  test("API responses carry nosniff and a referrer policy; authenticated JSON is not cached", async () => {
    env = await createTestEnv();
    const a = await env.org("Acme");
    const ok = await env.request("/v1/tickets", { key: a.key });
    expect(ok.headers.get("x-content-type-options")).toBe("nosniff");
    expect(ok.headers.get("referrer-policy")).toBe("no-referrer");
    expect(ok.headers.get("cache-control")).toBe("no-store");
    const denied = await env.request("/v1/tickets");
    expect(denied.headers.get("x-content-type-options")).toBe("nosniff");
  });
});
