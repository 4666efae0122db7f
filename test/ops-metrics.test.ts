// /metrics: off by default; when on, counters by route pattern and status move with requests, data gauges come from the database; token and separate listener.
import { describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { createSqliteTestEnv, createTestEnv, ON_POSTGRES, tempDir } from "./helpers";
import { bytesOf, parseMetrics, seedDelivery, seedFile, seedWebhook, startServe } from "./ops-fixtures";

/** Elysia runs after-response hooks (where requests are counted) on a later setImmediate: let them run. */
const settle = () => new Promise<void>((r) => setImmediate(r));

describe("metrics", () => {
  test("off by default: /metrics is a 404 like any unknown path", async () => {
    const env = await createTestEnv();
    try {
      const res = await env.request("/metrics");
      expect(res.status).toBe(404);
      expect(((await res.json()) as any).error).toBe("not_found");
    } finally {
      env.close();
    }
  });

  test("counters by route pattern and status move after requests; never raw paths", async () => {
    const env = await createTestEnv({ config: { metrics: true } });
    try {
      const org = await env.org();
      const scrape = async () => {
        await settle();
        const res = await env.request("/metrics");
        expect(res.status).toBe(200);
        expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
        return res.text();
      };
      expect((await env.request("/v1/tickets", { key: org.key })).status).toBe(200);
      expect((await env.request("/v1/tickets/tkt_doesnotexist1", { key: org.key })).status).toBe(404);
      expect((await env.request("/v1/tickets/tkt_doesnotexist2", { key: org.key })).status).toBe(404);
      expect((await env.request("/v1/tickets")).status).toBe(401);
      expect((await env.request("/no/such/path/secret-looking-123")).status).toBe(404);
      expect((await env.request("/v1/tickets", { method: "POST", key: org.key, json: {} })).status).toBe(400);

      const text = await scrape();
      const m = parseMetrics(text);
      expect(m.get('clientcove_http_requests_total{method="GET",route="/v1/tickets",status="200"}')).toBe(1);
      expect(m.get('clientcove_http_requests_total{method="GET",route="/v1/tickets/:id",status="404"}')).toBe(2);
      expect(m.get('clientcove_http_requests_total{method="GET",route="/v1/tickets",status="401"}')).toBe(1);
      expect(m.get('clientcove_http_requests_total{method="GET",route="(unmatched)",status="404"}')).toBe(1);
      expect(m.get('clientcove_http_requests_total{method="POST",route="/v1/tickets",status="400"}')).toBe(1);
      expect(text).not.toContain("doesnotexist");
      expect(text).not.toContain("secret-looking");
      expect(m.get('clientcove_http_request_duration_seconds_count{method="GET",route="/v1/tickets/:id"}')).toBe(2);
      expect(m.get('clientcove_http_request_duration_seconds_bucket{method="GET",route="/v1/tickets/:id",le="+Inf"}')).toBe(2);
      expect(text).toContain("# TYPE clientcove_http_request_duration_seconds histogram");

      // They move: one more request, one more count (the scrape itself is counted too).
      expect((await env.request("/v1/tickets", { key: org.key })).status).toBe(200);
      const after = parseMetrics(await scrape());
      expect(after.get('clientcove_http_requests_total{method="GET",route="/v1/tickets",status="200"}')).toBe(2);
      expect(after.get('clientcove_http_requests_total{method="GET",route="/metrics",status="200"}')).toBe(1);
    } finally {
      env.close();
    }
  });

  // SQLite only: the data gauges are read from the SQLite file (docs/operations.md: not on PostgreSQL yet).
  test.skipIf(ON_POSTGRES)("data gauges: webhook deliveries by status, pending deliveries, stored files and bytes, uploads, database size", async () => {
    const env = await createSqliteTestEnv({ config: { metrics: true } });
    try {
      const org = await env.org();
      const hook = seedWebhook(env.handle.sqlite, org.orgId);
      for (const s of ["pending", "pending", "pending", "failed", "succeeded", "succeeded"] as const) seedDelivery(env.handle.sqlite, org.orgId, hook, s);
      seedFile(env.handle.sqlite, env.dir, org.orgId, bytesOf(1000, 1));
      const form = new FormData();
      form.append("file", new Blob([bytesOf(4000, 2)]), "up.bin");
      expect((await env.request("/v1/files", { method: "POST", key: org.key, body: form })).status).toBe(201);

      await settle();
      const m = parseMetrics(await (await env.request("/metrics")).text());
      expect(m.get('clientcove_webhook_deliveries{status="pending"}')).toBe(3);
      expect(m.get('clientcove_webhook_deliveries{status="failed"}')).toBe(1);
      expect(m.get('clientcove_webhook_deliveries{status="succeeded"}')).toBe(2);
      expect(m.get('clientcove_webhook_deliveries{status="cancelled"}')).toBe(0);
      expect(m.get("clientcove_webhook_deliveries_pending")).toBe(3);
      expect(m.get("clientcove_stored_files")).toBe(2);
      expect(m.get("clientcove_stored_bytes")).toBe(5000);
      expect(m.get("clientcove_uploaded_bytes_total")).toBe(4000);
      expect(m.get("clientcove_database_size_bytes")).toBeGreaterThan(0);
      expect([...m.keys()].some((k) => k.startsWith("clientcove_build_info{version="))).toBe(true);
    } finally {
      env.close();
    }
  });

  test("a metrics token is required when set (401 without, 200 with; API keys do not count)", async () => {
    const env = await createTestEnv({ config: { metrics: true, metricsToken: "prom-token-123" } });
    try {
      const org = await env.org();
      const none = await env.request("/metrics");
      expect(none.status).toBe(401);
      expect(none.headers.get("www-authenticate")).toBe("Bearer");
      expect(((await none.json()) as any).error).toBe("unauthorized");
      expect((await env.request("/metrics", { key: org.key })).status).toBe(401);
      expect((await env.request("/metrics", { key: "prom-token-12" })).status).toBe(401);
      expect((await env.request("/metrics", { key: "prom-token-123" })).status).toBe(200);
    } finally {
      env.close();
    }
  });

  test("CLIENTCOVE_METRICS_ADDR: served on a separate listener only (with its token), not on the API port", async () => {
    const dir = tempDir("cc-metrics");
    const server = await startServe(["--data-dir", dir], {
      env: { CLIENTCOVE_METRICS: "true", CLIENTCOVE_METRICS_ADDR: "127.0.0.1:0", CLIENTCOVE_METRICS_TOKEN: "sep-token" },
      expectKey: true,
    }).catch((err) => {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    });
    try {
      const line = await server.waitForLog((l) => l.msg === "metrics listening");
      expect(line.auth).toBe("bearer");
      const metricsUrl = String(line.url);
      expect(metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      expect(new URL(metricsUrl).port).not.toBe(new URL(server.url).port);
      expect((await fetch(`${server.url}/v1/tickets`, { headers: { authorization: `Bearer ${server.key}` } })).status).toBe(200);
      expect((await fetch(`${server.url}/metrics`)).status).toBe(404);
      expect((await fetch(metricsUrl)).status).toBe(401);
      const res = await fetch(metricsUrl, { headers: { authorization: "Bearer sep-token" } });
      expect(res.status).toBe(200);
      expect(parseMetrics(await res.text()).get('clientcove_http_requests_total{method="GET",route="/v1/tickets",status="200"}')).toBe(1);
      expect((await fetch(metricsUrl.replace("/metrics", "/other"), { headers: { authorization: "Bearer sep-token" } })).status).toBe(404);
    } finally {
      server.proc.kill("SIGTERM");
      expect(await server.exited).toBe(0);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
