// GET /v1/tags: the organization's tags with their ticket counts, in name order, by prefix, by page (Link), and never another organization's.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createTestEnv, type TestEnv } from "./helpers";

let env: TestEnv;
let a: Awaited<ReturnType<TestEnv["org"]>>;
let b: Awaited<ReturnType<TestEnv["org"]>>;

async function get(path: string, key = a.key) {
  const res = await env.request(path, { key });
  return { status: res.status, body: (await res.json()) as any, link: res.headers.get("link") };
}

async function create(tags: string[], key = a.key): Promise<string> {
  const res = await env.request("/v1/tickets", { method: "POST", key, json: { subject: "Tagged", tags } });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

let doomed: string;

beforeAll(async () => {
  env = await createTestEnv({ config: { publicUrl: "https://support.example.com" } });
  a = await env.org("Acme", "pro");
  b = await env.org("Beta", "pro");
  await create(["billing", "bug"]);
  await create(["Billing", "refund"]);
  doomed = await create(["billing", "b:vip", "urgent-2"]);
  await create([]);
  await create(["billing", "secret", "bz"], b.key);
});
afterAll(() => env.close());

const ALL = [
  { name: "b:vip", ticket_count: 1 },
  { name: "billing", ticket_count: 3 },
  { name: "bug", ticket_count: 1 },
  { name: "refund", ticket_count: 1 },
  { name: "urgent-2", ticket_count: 1 },
];

describe("GET /v1/tags", () => {
  test("every tag of the organization with how many tickets carry it, in name order; meta.total counts distinct tags", async () => {
    const r = await get("/v1/tags");
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ data: ALL, meta: { page: 1, per_page: 25, total: 5 } });
    expect(r.link).toBeNull();
  });

  test("q keeps the tags that start with it, compared lowercase", async () => {
    expect((await get("/v1/tags?q=b")).body).toEqual({ data: ALL.slice(0, 3), meta: { page: 1, per_page: 25, total: 3 } });
    expect((await get("/v1/tags?q=BI")).body.data).toEqual([ALL[1]]);
    expect((await get("/v1/tags?q=b:")).body.data).toEqual([ALL[0]]);
    expect((await get("/v1/tags?q=billing")).body.data).toEqual([ALL[1]]);
    expect((await get("/v1/tags?q=billingx")).body).toEqual({ data: [], meta: { page: 1, per_page: 25, total: 0 } });
    expect((await get("/v1/tags?q=")).body.meta.total).toBe(5);
    // B's own tags are not A's, by prefix either.
    expect((await get("/v1/tags?q=se")).body.meta.total).toBe(0);
  });

  test("pages by page and per_page, with a Link to the next page (q kept)", async () => {
    const p1 = await get("/v1/tags?per_page=2");
    expect(p1.body).toEqual({ data: ALL.slice(0, 2), meta: { page: 1, per_page: 2, total: 5 } });
    expect(p1.link).toBe('<https://support.example.com/v1/tags?per_page=2&page=2>; rel="next"');
    const p3 = await get("/v1/tags?per_page=2&page=3");
    expect(p3.body.data).toEqual(ALL.slice(4));
    expect(p3.link).toBeNull();
    expect((await get("/v1/tags?per_page=2&page=9")).body).toEqual({ data: [], meta: { page: 9, per_page: 2, total: 5 } });
    const q = await get("/v1/tags?q=B&per_page=1");
    expect(q.link).toBe('<https://support.example.com/v1/tags?q=b&per_page=1&page=2>; rel="next"');
  });

  test("another organization sees only its own tags", async () => {
    expect((await get("/v1/tags", b.key)).body.data).toEqual([
      { name: "billing", ticket_count: 1 },
      { name: "bz", ticket_count: 1 },
      { name: "secret", ticket_count: 1 },
    ]);
    const c = await env.org("Empty", "pro");
    expect((await get("/v1/tags", c.key)).body).toEqual({ data: [], meta: { page: 1, per_page: 25, total: 0 } });
  });

  test("bad query parameters are a 400 naming them; unknown ones are ignored", async () => {
    for (const [query, field] of [
      ["q=has%20space", "q"],
      ["q=%C3%A9", "q"],
      [`q=${"a".repeat(51)}`, "q"],
      ["page=0", "page"],
      ["per_page=101", "per_page"],
      ["per_page=x", "per_page"],
    ] as const) {
      const r = await get(`/v1/tags?${query}`);
      expect({ query, status: r.status, error: r.body.error, field: r.body.details?.[0]?.field }).toEqual({
        query,
        status: 400,
        error: "validation_error",
        field,
      });
    }
    expect((await get("/v1/tags?utm_source=x")).status).toBe(200);
  });

  test("counts follow the tickets: a deleted ticket's tags go, a retag moves them", async () => {
    expect((await env.request(`/v1/tickets/${doomed}`, { method: "DELETE", key: a.key })).status).toBe(204);
    const ticket = await create(["refund"]);
    await env.request(`/v1/tickets/${ticket}`, { method: "PATCH", key: a.key, json: { add_tags: ["bug"] } });
    expect((await get("/v1/tags")).body).toEqual({
      data: [
        { name: "billing", ticket_count: 2 },
        { name: "bug", ticket_count: 2 },
        { name: "refund", ticket_count: 2 },
      ],
      meta: { page: 1, per_page: 25, total: 3 },
    });
  });

  test("without a key 401; on the free plan 403", async () => {
    expect((await env.request("/v1/tags")).status).toBe(401);
    const free = await env.org("Free", "free");
    expect((await get("/v1/tags", free.key)).status).toBe(403);
  });
});
