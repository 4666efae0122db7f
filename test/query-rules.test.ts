// Query strings on every route: integers are plain decimal digits in the safe range, and a declared parameter
// sent twice is a 400 (not last-one-wins); unknown parameters stay ignored.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createTestEnv, type TestEnv } from "./helpers";

let env: TestEnv;
let a: Awaited<ReturnType<TestEnv["org"]>>;
let webhookId: string;

beforeAll(async () => {
  env = await createTestEnv({ config: { webhookAllowPrivate: true } });
  a = await env.org("Acme", "pro");
  const wh = await env.request("/v1/webhooks", { method: "POST", key: a.key, json: { url: "http://127.0.0.1:9/hook", events: ["*"] } });
  webhookId = ((await wh.json()) as { id: string }).id;
});
afterAll(() => env.close());

async function expect400(path: string, field: string, init: RequestInit = {}) {
  const res = await env.request(path, { key: a.key, ...init });
  const text = await res.text();
  expect(res.status, `${path}: ${text}`).toBe(400);
  const body = JSON.parse(text);
  expect(Object.keys(body).sort()).toEqual(["details", "error", "message"]);
  expect(body.error).toBe("validation_error");
  expect(
    body.details.map((d: { field: string }) => d.field),
    path,
  ).toContain(field);
  return body;
}

const listRoutes = () => ["/v1/tickets", "/v1/files", "/v1/folders", "/v1/webhooks", `/v1/webhooks/${webhookId}/deliveries`];

describe("query integers: plain decimal digits within the safe range", () => {
  const notDecimal = ["0x10", "1e2", "+5", "%205", "5%20", "-0", "1_000", "0b11", "0o7", "Infinity", "１２"]; // the last: full-width digits
  for (const value of notDecimal) {
    test(`page=${value} and per_page=${value} are 400 naming the parameter, on every list route`, async () => {
      for (const route of listRoutes()) {
        await expect400(`${route}?page=${value}`, "page");
        await expect400(`${route}?per_page=${value}`, "per_page");
      }
    });
  }

  test("page=9007199254740993 is a 400, not echoed as …992; the largest safe integer is accepted and echoed exactly", async () => {
    for (const route of listRoutes()) {
      const body = await expect400(`${route}?page=9007199254740993`, "page");
      expect(JSON.stringify(body)).not.toContain("9007199254740992");
      await expect400(`${route}?page=9007199254740992`, "page");
      await expect400(`${route}?page=${"9".repeat(400)}`, "page");
      const ok = await env.request(`${route}?page=9007199254740991`, { key: a.key });
      expect(ok.status, route).toBe(200);
      expect(((await ok.json()) as { meta: { page: number } }).meta.page).toBe(9007199254740991);
    }
  });

  test("plain digits still work, leading zeros included", async () => {
    const res = await env.request("/v1/tickets?page=002&per_page=010", { key: a.key });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { meta: unknown }).meta).toEqual({ page: 2, per_page: 10, total: 0 });
  });
});

describe("a declared parameter given twice is a 400, on every route's query", () => {
  const cases: [() => string, string][] = [
    [() => "/v1/tickets?status=open&status=closed", "status"],
    [() => "/v1/tickets?priority=low&priority=low", "priority"],
    [() => "/v1/tickets?page=1&page=2", "page"],
    [() => "/v1/tickets?per_page=10&per_page=10", "per_page"],
    [() => "/v1/tickets?starting_after=tkt_a&starting_after=tkt_b", "starting_after"],
    [() => "/v1/tickets?status=open&st%61tus=closed", "status"], // the same name, percent-encoded
    [() => "/v1/files?folder_id=root&folder_id=fld_x", "folder_id"],
    [() => "/v1/files?ticket_id=a&ticket_id=b", "ticket_id"],
    [() => "/v1/folders?parent_id=root&parent_id=fld_x", "parent_id"],
    [() => "/v1/folders/fld_0000000000000000?recursive=false&recursive=true", "recursive"],
    [() => "/v1/webhooks?page=1&page=1", "page"],
    [() => `/v1/webhooks/${webhookId}/deliveries?status=pending&status=failed`, "status"],
  ];
  for (const [path, field] of cases) {
    test(`${path().replace(webhookId, ":id")} names ${field}`, async () => {
      const method = path().includes("recursive") ? "DELETE" : "GET";
      const body = await expect400(path(), field, { method });
      expect(body.message).toContain(field);
    });
  }

  test("HEAD is checked like GET", async () => {
    const res = await env.request("/v1/tickets?status=open&status=closed", { method: "HEAD", key: a.key });
    expect(res.status).toBe(400);
  });

  test("the signed download link's parameters too", async () => {
    const res = await env.request("/files/file_0000000000000000/x.txt?expires=1&expires=2&signature=s");
    expect(res.status).toBe(400);
    expect(((await res.json()) as { details: { field: string }[] }).details.map((d) => d.field)).toEqual(["expires"]);
  });

  test("unknown parameters may repeat (cache busters, tracking): still ignored", async () => {
    for (const route of listRoutes()) {
      expect((await env.request(`${route}?_=1&_=2&utm_source=a&utm_source=b`, { key: a.key })).status, route).toBe(200);
    }
  });

  test("authentication comes first: without a key it is a 401", async () => {
    expect((await env.request("/v1/tickets?status=open&status=closed")).status).toBe(401);
    expect((await env.request("/v1/tickets?page=0x10")).status).toBe(401);
  });
});
