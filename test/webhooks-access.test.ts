// Who may touch webhooks: the access matrix of every /v1/webhooks route (rows in test/route-matrix.ts), and the
// crossings the matrix cannot express: another organization's delivery under one's own endpoint, and lists.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createTestEnv, type TestEnv } from "./helpers";
import { describeRouteMatrix, ROUTE_MATRIX, storedStateOfAll } from "./route-matrix";

describeRouteMatrix("webhooks", ROUTE_MATRIX.webhooks);

describe("webhooks: crossings by one id of a path", () => {
  let env: TestEnv;
  let owner: Awaited<ReturnType<TestEnv["org"]>>;
  let intruder: Awaited<ReturnType<TestEnv["org"]>>;
  let hook: { id: string };
  let delivery: { id: string };
  let mine: { id: string };

  async function api(key: string, method: string, path: string, json?: unknown) {
    const res = await env.request(path, { method, key, json });
    return { status: res.status, body: (await res.json()) as any };
  }

  beforeAll(async () => {
    env = await createTestEnv({ config: { webhookAllowPrivate: true } });
    owner = await env.org("Owner Org");
    intruder = await env.org("Intruder Org", "enterprise");
    hook = (await api(owner.key, "POST", "/v1/webhooks", { url: "http://127.0.0.1:9/owner", events: ["*"] })).body;
    delivery = (await api(owner.key, "POST", `/v1/webhooks/${hook.id}/test`)).body;
    mine = (await api(intruder.key, "POST", "/v1/webhooks", { url: "http://127.0.0.1:9/intruder", events: ["*"] })).body;
  });
  afterAll(() => env.close());

  test("another organization's delivery id under one's own webhook is a 404, like a missing one, and changes nothing", async () => {
    for (const [method, tail] of [
      ["GET", ""],
      ["POST", "/retry"],
    ] as const) {
      const before = await storedStateOfAll(env);
      const crossed = await api(intruder.key, method, `/v1/webhooks/${mine.id}/deliveries/${delivery.id}${tail}`);
      const missing = await api(intruder.key, method, `/v1/webhooks/${mine.id}/deliveries/dlv_0000000000000000${tail}`);
      expect({ method, ...crossed }).toEqual({ method, ...missing, status: 404 });
      expect(await storedStateOfAll(env)).toEqual(before);
    }
  });

  test("each organization's list holds only its own endpoints and deliveries", async () => {
    expect((await api(intruder.key, "GET", "/v1/webhooks")).body.data.map((x: any) => x.id)).toEqual([mine.id]);
    expect((await api(owner.key, "GET", "/v1/webhooks")).body.data.map((x: any) => x.id)).toEqual([hook.id]);
    expect((await api(intruder.key, "GET", `/v1/webhooks/${mine.id}/deliveries`)).body.meta.total).toBe(0);
    expect((await api(owner.key, "GET", `/v1/webhooks/${hook.id}/deliveries`)).body.data.map((d: any) => d.id)).toEqual([delivery.id]);
  });
});
