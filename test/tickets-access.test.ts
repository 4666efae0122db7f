// Who may touch tickets: the access matrix for every ticket route (rows in test/route-matrix.ts), and organization isolation in lists and counts.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { manualClock } from "../src/lib/clock";
import { createTestEnv, type TestEnv } from "./helpers";
import { describeRouteMatrix, ROUTE_MATRIX } from "./route-matrix";

describeRouteMatrix("tickets", ROUTE_MATRIX.tickets);

describe("tickets: organizations are isolated in lists and counts", () => {
  let env: TestEnv;
  let a: Awaited<ReturnType<TestEnv["org"]>>;
  let b: Awaited<ReturnType<TestEnv["org"]>>;
  const aIds: string[] = [];
  const bIds: string[] = [];

  beforeAll(async () => {
    env = await createTestEnv({ clock: manualClock() });
    a = await env.org("Alpha", "pro");
    b = await env.org("Beta", "pro");
    const statuses = ["open", "in_progress", "resolved", "closed"];
    const priorities = ["low", "medium", "high", "urgent"];
    // Org A gets many tickets in every status/priority; org B a few, so a leak would show in B's numbers.
    for (let i = 0; i < 20; i++) {
      const res = await env.request("/v1/tickets", { method: "POST", key: a.key, json: { subject: `A${i}`, priority: priorities[i % 4] } });
      const t = (await res.json()) as { id: string };
      aIds.push(t.id);
      await env.request(`/v1/tickets/${t.id}`, { method: "PATCH", key: a.key, json: { status: statuses[(i >> 2) % 4] } });
    }
    for (let i = 0; i < 3; i++) {
      const res = await env.request("/v1/tickets", { method: "POST", key: b.key, json: { subject: `B${i}`, priority: "high" } });
      bIds.push(((await res.json()) as { id: string }).id);
    }
  });
  afterAll(() => env.close());

  test("org B's list shows and counts only org B's tickets, for every filter", async () => {
    for (const status of [undefined, "open", "in_progress", "resolved", "closed"]) {
      for (const priority of [undefined, "low", "medium", "high", "urgent"]) {
        const q = new URLSearchParams({ per_page: "100" });
        if (status) q.set("status", status);
        if (priority) q.set("priority", priority);
        const res = await env.request(`/v1/tickets?${q}`, { key: b.key });
        const body = (await res.json()) as { data: { id: string }[]; meta: { total: number } };
        const expected = status === undefined || status === "open" ? (priority === undefined || priority === "high" ? 3 : 0) : 0;
        expect(body.meta.total, `${q}`).toBe(expected);
        expect(body.data.map((t) => t.id).sort(), `${q}`).toEqual(expected ? [...bIds].sort() : []);
      }
    }
  });

  test("org A's list holds exactly org A's tickets", async () => {
    const res = await env.request("/v1/tickets?per_page=100", { key: a.key });
    const body = (await res.json()) as { data: { id: string }[]; meta: { total: number } };
    expect(body.meta.total).toBe(20);
    expect(body.data.map((t) => t.id).sort()).toEqual([...aIds].sort());
  });

  test("paging past org B's tickets never reaches org A's", async () => {
    for (let page = 1; page <= 5; page++) {
      const body = (await (await env.request(`/v1/tickets?per_page=1&page=${page}`, { key: b.key })).json()) as {
        data: { id: string }[];
        meta: { total: number };
      };
      expect(body.meta.total).toBe(3);
      for (const t of body.data) expect(bIds).toContain(t.id);
      expect(body.data.length).toBe(page <= 3 ? 1 : 0);
    }
  });

  test("org B changing and deleting its own tickets leaves org A's counts alone", async () => {
    await env.request(`/v1/tickets/${bIds[0]}`, { method: "PATCH", key: b.key, json: { status: "closed" } });
    await env.request(`/v1/tickets/${bIds[1]}`, { method: "DELETE", key: b.key });
    const aBody = (await (await env.request("/v1/tickets?per_page=1", { key: a.key })).json()) as { meta: { total: number } };
    expect(aBody.meta.total).toBe(20);
    const aClosed = (await (await env.request("/v1/tickets?status=closed&per_page=1", { key: a.key })).json()) as { meta: { total: number } };
    expect(aClosed.meta.total).toBe(4);
  });
});
