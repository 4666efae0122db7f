// Routing of /v1/webhooks: the fixed path /v1/webhooks/event-types answers for itself (405 + Allow), and no fixed path anywhere in the app is shadowed by a parameter route.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createMethodTable } from "../src/http/method-table";
import { createTestEnv, type TestEnv } from "./helpers";

let env: TestEnv;
let key: string;

beforeAll(async () => {
  env = await createTestEnv();
  key = (await env.org("Router Org")).key;
});
afterAll(() => env.close());

const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];

function allowOf(res: Response): string[] {
  return (res.headers.get("allow") ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .sort();
}

describe("/v1/webhooks/event-types", () => {
  test.each(["PUT", "PATCH", "DELETE", "POST"])("%s is a 405 with Allow: GET, HEAD, not an answer about a webhook called event-types", async (method) => {
    for (const k of [key, undefined]) {
      const res = await env.request("/v1/webhooks/event-types", { method, key: k, json: { description: "x" } });
      expect(res.status).toBe(405);
      expect(res.headers.get("allow")).toBe("GET, HEAD");
      expect(res.headers.get("x-request-id")).toBeTruthy();
      expect(await res.json()).toEqual({ error: "method_not_allowed", message: `${method} is not allowed here; use GET, HEAD.` });
    }
  });

  test("GET and HEAD work; an id next to it still reaches /:id", async () => {
    expect((await env.request("/v1/webhooks/event-types", { key })).status).toBe(200);
    expect((await env.request("/v1/webhooks/event-types", { method: "HEAD", key })).status).toBe(200);
    const other = await env.request("/v1/webhooks/wh_nope", { method: "PATCH", key, json: { description: "x" } });
    expect(other.status).toBe(404);
    const put = await env.request("/v1/webhooks/wh_nope", { method: "PUT", key });
    expect(put.status).toBe(405);
    expect(allowOf(put)).toEqual(["DELETE", "GET", "HEAD", "PATCH"]);
  });
});

describe("no fixed path is shadowed", () => {
  test("every route path without parameters answers every method it lacks with 405 and exactly its own Allow", async () => {
    const own = new Map<string, Set<string>>();
    for (const r of env.app.routes) {
      if (r.path.includes(":") || r.path.includes("*") || r.method === "ALL") continue;
      const set = own.get(r.path) ?? new Set<string>();
      set.add(r.method);
      if (r.method === "GET") set.add("HEAD");
      own.set(r.path, set);
    }
    expect(own.has("/v1/webhooks/event-types")).toBe(true);
    for (const [path, methods] of own) {
      for (const method of METHODS.filter((m) => !methods.has(m))) {
        const res = await env.request(path, { method, key });
        expect(res.status, `${method} ${path}`).toBe(405);
        expect(allowOf(res), `${method} ${path}`).toEqual([...methods].sort());
      }
    }
  });

  test("the table ranks a fixed segment over a parameter wherever it is, and unions routes of the same shape", () => {
    const table = createMethodTable();
    table.load([
      { method: "GET", path: "/a/:id" },
      { method: "DELETE", path: "/a/:id" },
      { method: "GET", path: "/a/fixed" },
      { method: "POST", path: "/a/:id/b" },
      { method: "PUT", path: "/a/fixed/b" },
      { method: "GET", path: "/x/:p/y" },
      { method: "PATCH", path: "/x/:q/y" },
    ]);
    expect(table.allowed("/a/fixed")).toEqual(["GET", "HEAD"]);
    expect(table.allowed("/a/other")).toEqual(["DELETE", "GET", "HEAD"]);
    expect(table.allowed("/a/fixed/b")).toEqual(["PUT"]);
    expect(table.allowed("/a/other/b")).toEqual(["POST"]);
    expect(table.allowed("/x/1/y")).toEqual(["GET", "HEAD", "PATCH"]);
    expect(table.allowed("/nowhere")).toEqual([]);
    const req = (method: string, path: string) => new Request(`http://localhost${path}?q=1`, { method });
    expect(table.refusal(req("DELETE", "/a/fixed"))?.headers).toEqual({ allow: "GET, HEAD" });
    expect(table.refusal(req("POST", "/a/fixed/b"))?.status).toBe(405);
    expect(table.refusal(req("GET", "/a/fixed"))).toBeNull();
    expect(table.refusal(req("DELETE", "/a/other"))).toBeNull();
    expect(table.refusal(req("PATCH", "/x/1/y"))).toBeNull();
  });
});
