// One error shape for everything: unknown routes (404), wrong methods (405 + Allow), request ids, and 500s that leak nothing.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ValidationError } from "elysia";
import { t } from "elysia";
import { buildApp } from "../src/app";
import { ApiError, errorBody, errorResponse, errors } from "../src/errors";
import { toApiError } from "../src/http/error-render";
import { formatBytes } from "../src/lib/format-bytes";
import { createLogger } from "../src/lib/log";
import { createSqliteTestEnv, createTestEnv, ON_POSTGRES, type SqliteTestEnv, testDeps, type TestEnv } from "./helpers";

let env: TestEnv;
let a: Awaited<ReturnType<TestEnv["org"]>>;
let ticketId: string;

beforeAll(async () => {
  env = await createTestEnv();
  a = await env.org("Acme", "pro");
  ticketId = ((await (await env.request("/v1/tickets", { method: "POST", key: a.key, json: { subject: "x" } })).json()) as { id: string }).id;
});
afterAll(() => env.close());

function expectPlainError(body: unknown, code: string) {
  const o = body as Record<string, unknown>;
  expect(Object.keys(o).sort()).toEqual(["error", "message"]);
  expect(o.error).toBe(code);
  expect(typeof o.message).toBe("string");
}

describe("404 not_found for unknown routes", () => {
  for (const path of [
    "/nope",
    "/v1",
    "/v1/",
    "/v1/nope",
    "/v1/tickets/tkt_1/extra",
    "/v2/tickets",
    "/V1/TICKETS",
    "/v1/tickets.json",
    "/.env",
    "/../etc/passwd",
  ]) {
    test(`GET ${path}`, async () => {
      const res = await env.request(path, { key: a.key });
      expect(res.status).toBe(404);
      expect(res.headers.get("content-type")).toStartWith("application/json");
      expect(res.headers.get("x-request-id")).toBeTruthy();
      expectPlainError(await res.json(), "not_found");
    });
  }

  test("without a key too (an unknown route is not an auth question)", async () => {
    const res = await env.request("/v1/nope");
    expect(res.status).toBe(404);
    expectPlainError(await res.json(), "not_found");
  });
});

describe("405 method_not_allowed with Allow", () => {
  const cases: [string, string, string[]][] = [
    ["PUT", "/v1/tickets", ["GET", "HEAD", "POST"]],
    ["DELETE", "/v1/tickets", ["GET", "HEAD", "POST"]],
    ["PATCH", "/v1/tickets", ["GET", "HEAD", "POST"]],
    ["POST", "/v1/tickets/tkt_1", ["DELETE", "GET", "HEAD", "PATCH"]],
    ["PUT", "/v1/tickets/tkt_1", ["DELETE", "GET", "HEAD", "PATCH"]],
    ["POST", "/healthz", ["GET", "HEAD"]],
    ["DELETE", "/docs/json", ["GET", "HEAD"]],
  ];
  for (const [method, path, allowed] of cases) {
    test(`${method} ${path}`, async () => {
      const res = await env.request(path, { method, key: a.key });
      expect(res.status).toBe(405);
      const allow = (res.headers.get("allow") ?? "")
        .split(",")
        .map((s) => s.trim())
        .sort();
      expect(allow).toEqual(allowed);
      expect(res.headers.get("x-request-id")).toBeTruthy();
      const body = await res.json();
      expectPlainError(body, "method_not_allowed");
    });
  }

  test("every method Allow lists really works (HEAD included)", async () => {
    const head = await env.request("/v1/tickets", { method: "HEAD", key: a.key });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
    const headOne = await env.request(`/v1/tickets/${ticketId}`, { method: "HEAD", key: a.key });
    expect(headOne.status).toBe(200);
  });
});

describe("X-Request-Id", () => {
  test("a sane incoming id is echoed, on success and on errors", async () => {
    for (const [path, init] of [
      ["/v1/tickets", { key: a.key }],
      ["/v1/tickets", {}],
      ["/v1/nope", { key: a.key }],
      ["/v1/tickets?page=0", { key: a.key }],
      ["/healthz", {}],
    ] as const) {
      const res = await env.request(path, { ...init, headers: { "x-request-id": "req-2026.02.25:abc_123" } });
      expect(res.headers.get("x-request-id"), path).toBe("req-2026.02.25:abc_123");
    }
  });

  test("an insane incoming id is replaced by a generated one", async () => {
    for (const bad of ["has space", "x".repeat(129), "<script>", "semi;colon", "ünïcode", "a/b", ""]) {
      const res = await env.request("/v1/tickets", { key: a.key, headers: { "x-request-id": bad } });
      const id = res.headers.get("x-request-id");
      expect(id, JSON.stringify(bad)).toBeTruthy();
      expect(id).not.toBe(bad);
      expect(id).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);
    }
  });

  test("without one, each response gets its own generated id", async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const res = await env.request(i % 2 ? "/v1/tickets" : "/v1/nope", { key: a.key });
      ids.add(res.headers.get("x-request-id")!);
    }
    expect(ids.size).toBe(20);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9._:-]{8,128}$/);
  });

  test("present on 201, 204, 401, 405, 413 and 415 too", async () => {
    const created = await env.request("/v1/tickets", { method: "POST", key: a.key, json: { subject: "rid" } });
    const id = ((await created.json()) as { id: string }).id;
    const responses = [
      created,
      await env.request(`/v1/tickets/${id}`, { method: "DELETE", key: a.key }),
      await env.request("/v1/tickets"),
      await env.request("/v1/tickets", { method: "PUT", key: a.key }),
      await env.request("/v1/tickets", { method: "POST", key: a.key, body: "{}".padEnd(2 * 1024 * 1024), headers: { "content-type": "application/json" } }),
      await env.request("/v1/tickets", { method: "POST", key: a.key, body: "x", headers: { "content-type": "text/plain" } }),
    ];
    expect(responses.map((r) => r.status)).toEqual([201, 204, 401, 405, 413, 415]);
    for (const r of responses) expect(r.headers.get("x-request-id")).toMatch(/^[A-Za-z0-9._:-]{8,128}$/);
  });
});

// SQLite only: the fault is a table dropped behind the app's back (on PostgreSQL that would break the pooled database).
describe.skipIf(ON_POSTGRES)("500 internal_error", () => {
  let broken: SqliteTestEnv;
  let key: string;
  const logLines: string[] = [];
  let app: ReturnType<typeof buildApp>;

  beforeAll(async () => {
    broken = await createSqliteTestEnv();
    key = (await broken.org("Broken", "pro")).key;
    // A fault the code cannot expect: the tickets table disappears under the running app.
    broken.handle.sqlite.exec("PRAGMA foreign_keys = OFF; DROP TABLE tickets;");
    app = buildApp(testDeps(broken, { log: createLogger({ level: "error", write: (l) => logLines.push(l) }) }));
  });
  afterAll(() => broken.close());

  for (const [method, path, json] of [
    ["GET", "/v1/tickets/tkt_0000000000000000", undefined],
    ["POST", "/v1/tickets", { subject: "x" }],
    ["PATCH", "/v1/tickets/tkt_0000000000000000", { status: "closed" }],
  ] as const) {
    test(`${method} ${path}: the shared body, no internals; the log has the cause with the request id`, async () => {
      logLines.length = 0;
      const res = await app.handle(
        new Request(`http://localhost${path}`, {
          method,
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "x-request-id": `fault-${method}` },
          body: json ? JSON.stringify(json) : undefined,
        }),
      );
      expect(res.status).toBe(500);
      expect(res.headers.get("x-request-id")).toBe(`fault-${method}`);
      const text = await res.text();
      expectPlainError(JSON.parse(text), "internal_error");
      expect(JSON.parse(text).message).toContain("X-Request-Id");
      expect(text).not.toMatch(/sqlite|no such table|tickets|select|insert|stack|\bat \w|\/work|\/tmp|\.ts\b|Error:/i);
      const logged = logLines.map((l) => JSON.parse(l)).find((l) => l.msg === "request failed");
      expect(logged).toBeDefined();
      expect(logged.request_id).toBe(`fault-${method}`);
      expect(logged.level).toBe("error");
      expect(JSON.stringify(logged.cause)).toContain("no such table");
    });
  }
});

describe("no error body carries internals", () => {
  test("a sweep of bad requests: every body is the shared shape with a snake_case code", async () => {
    const requests: [string, RequestInit & { key?: string; json?: unknown }][] = [
      ["/v1/tickets", {}],
      ["/v1/tickets", { headers: { authorization: "Bearer cc_" + "x".repeat(40) } }],
      ["/v1/tickets?page=abc", { key: a.key }],
      ["/v1/tickets?per_page=1e9", { key: a.key }],
      ["/v1/tickets", { method: "POST", key: a.key, body: "{bad", headers: { "content-type": "application/json" } }],
      ["/v1/tickets", { method: "POST", key: a.key, json: { subject: ["x"], priority: { $gt: "" } } }],
      ["/v1/tickets", { method: "POST", key: a.key, json: { subject: "x", description: 1, extra: { nested: true } } }],
      [`/v1/tickets/${ticketId}`, { method: "PATCH", key: a.key, json: { status: "'; DROP TABLE tickets; --" } }],
      ["/v1/tickets/'%20OR%201=1", { key: a.key }],
      ["/v1/tickets", { method: "DELETE", key: a.key }],
      ["/v1/whatever", { method: "POST", key: a.key, json: {} }],
    ];
    for (const [path, init] of requests) {
      const res = await env.request(path, init);
      expect(res.status, path).toBeGreaterThanOrEqual(400);
      const text = await res.text();
      const body = JSON.parse(text);
      expect(body.error, path).toMatch(/^[a-z]+(_[a-z]+)*$/);
      expect(typeof body.message).toBe("string");
      for (const k of Object.keys(body)) expect(["error", "message", "details"]).toContain(k);
      expect(text, path).not.toMatch(/SQLITE|stack|node_modules|\/work\/|\.ts:\d|"found"|"schema"|"expected"|DROP TABLE|\$gt/);
    }
  });
});

describe("errors module", () => {
  test("ApiError renders as the shared body with its headers", async () => {
    const res = errorResponse(errors.unauthorized(), { "x-request-id": "r1" });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe("Bearer");
    expect(res.headers.get("x-request-id")).toBe("r1");
    expect(await res.json()).toEqual({ error: "unauthorized", message: "Invalid or expired API key. Generate a new key in Settings." });
  });

  test("details appear only on validation errors", () => {
    expect(errorBody(errors.validation([{ field: "a", message: "b" }], "m"))).toEqual({
      error: "validation_error",
      message: "m",
      details: [{ field: "a", message: "b" }],
    });
    expect(errorBody(errors.notFound("Ticket"))).toEqual({ error: "not_found", message: "Ticket was not found." });
    expect(errorBody(errors.planRequired())).toEqual({ error: "plan_required", message: "API access is available on Pro and Enterprise plans." });
  });

  test("an unexpected error becomes a 500 whose message says nothing about the cause", () => {
    const cause = new Error("SQLITE_CORRUPT: database disk image is malformed at /var/lib/x.db");
    const err = toApiError(cause, "UNKNOWN");
    expect(err.status).toBe(500);
    expect(err.errorCode).toBe("internal_error");
    expect(err.message).not.toContain("SQLITE");
    expect(err.cause).toBe(cause);
    expect(JSON.stringify(errorBody(err))).not.toContain("SQLITE");
  });

  test("an ApiError passes through unchanged; an Elysia validation error becomes validation_error with details", () => {
    const e = new ApiError(409, "conflict", "x");
    expect(toApiError(e, "UNKNOWN")).toBe(e);
    const schema = t.Object({ n: t.Integer() });
    const v = new ValidationError("body", schema, { n: "ZZ_SECRET" });
    const mapped = toApiError(v, "VALIDATION");
    expect(mapped.status).toBe(400);
    expect(mapped.details).toEqual([{ field: "n", message: expect.any(String) }]);
    expect(JSON.stringify(errorBody(mapped))).not.toContain("ZZ_SECRET");
  });

  test("formatBytes names sizes the way limits are configured", () => {
    expect(formatBytes(1024 * 1024, "exact")).toBe("1 MiB");
    expect(formatBytes(2048, "exact")).toBe("2 KiB");
    expect(formatBytes(1500, "exact")).toBe("1500 bytes");
  });
});
