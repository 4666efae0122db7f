// meta.total under churn: seeded random creates, changes and deletes in two organizations, checked against COUNT(*).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { manualClock } from "../src/lib/clock";
import { createTestEnv, type TestEnv } from "./helpers";

const STATUSES = ["open", "in_progress", "resolved", "closed"] as const;
const PRIORITIES = ["low", "medium", "high", "urgent"] as const;

/** mulberry32: a tiny seeded PRNG, so a failure replays exactly. */
function rng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]! };
}

let env: TestEnv;
let clock: ReturnType<typeof manualClock>;
let orgs: Awaited<ReturnType<TestEnv["org"]>>[];

beforeAll(async () => {
  clock = manualClock();
  env = await createTestEnv({ clock });
  orgs = [await env.org("Churn A", "pro"), await env.org("Churn B", "enterprise"), await env.org("Quiet C", "pro")];
});
afterAll(() => env.close());

async function realCount(orgId: string, status?: string, priority?: string): Promise<number> {
  let sql = "SELECT COUNT(*) AS n FROM tickets WHERE org_id = ?";
  const args: string[] = [orgId];
  if (status) {
    sql += " AND status = ?";
    args.push(status);
  }
  if (priority) {
    sql += " AND priority = ?";
    args.push(priority);
  }
  return ((await env.db.get(sql, ...args)) as { n: number }).n;
}

/** Compares meta.total of every filter combination of every organization with COUNT(*). */
async function checkAllTotals(label: string) {
  for (const org of orgs) {
    for (const status of [undefined, ...STATUSES]) {
      for (const priority of [undefined, ...PRIORITIES]) {
        const q = new URLSearchParams({ per_page: "1" });
        if (status) q.set("status", status);
        if (priority) q.set("priority", priority);
        const res = await env.request(`/v1/tickets?${q}`, { key: org.key });
        expect(res.status).toBe(200);
        const body = (await res.json()) as { data: unknown[]; meta: { total: number } };
        const expected = await realCount(org.orgId, status, priority);
        expect(body.meta.total, `${label}: ${org.orgId} ${q}`).toBe(expected);
        expect(body.data.length).toBe(expected ? 1 : 0);
      }
    }
  }
  // Per counter (PostgreSQL spreads each over shard rows, one of which may be below zero; their sum may not).
  const negative = (await env.db.get<{ n: number }>(
    "SELECT COUNT(*) AS n FROM (SELECT SUM(count) AS total FROM ticket_counts GROUP BY org_id, status, priority) AS sums WHERE total < 0",
  ))!;
  expect(negative.n, `${label}: negative counters`).toBe(0);
}

describe("ticket counts under churn", () => {
  for (const seed of [1, 42, 20260225]) {
    test(`seed ${seed}: after every batch, every total equals COUNT(*)`, async () => {
      const r = rng(seed);
      const live = new Map<string, string[]>(orgs.slice(0, 2).map((o) => [o.key, []]));
      const tally = { create: 0, status: 0, priority: 0, both: 0, subject: 0, noop: 0, delete: 0, missing: 0 };
      for (let batch = 0; batch < 6; batch++) {
        for (let i = 0; i < 40; i++) {
          clock.advance(r.int(3)); // frequent ties in created_at
          const org = r.pick(orgs.slice(0, 2));
          const ids = live.get(org.key)!;
          const roll = r.next();
          const id = ids.length ? ids[r.int(ids.length)]! : undefined;
          if (roll < 0.35 || !id) {
            const res = await env.request("/v1/tickets", { method: "POST", key: org.key, json: { subject: `t${i}`, priority: r.pick(PRIORITIES) } });
            expect(res.status).toBe(201);
            ids.push(((await res.json()) as { id: string }).id);
            tally.create++;
          } else if (roll < 0.75) {
            const kind = r.pick(["status", "priority", "both", "subject", "noop"] as const);
            const current = (await (await env.request(`/v1/tickets/${id}`, { key: org.key })).json()) as { status: string; priority: string };
            const json =
              kind === "status"
                ? { status: r.pick(STATUSES) }
                : kind === "priority"
                  ? { priority: r.pick(PRIORITIES) }
                  : kind === "both"
                    ? { status: r.pick(STATUSES), priority: r.pick(PRIORITIES) }
                    : kind === "subject"
                      ? { subject: `renamed ${i}` }
                      : { status: current.status, priority: current.priority };
            const res = await env.request(`/v1/tickets/${id}`, { method: "PATCH", key: org.key, json });
            expect(res.status).toBe(200);
            tally[kind]++;
          } else if (roll < 0.95) {
            const res = await env.request(`/v1/tickets/${id}`, { method: "DELETE", key: org.key });
            expect(res.status).toBe(204);
            ids.splice(ids.indexOf(id), 1);
            tally.delete++;
          } else {
            // Failing changes must not move counters: another org's ticket, a deleted id.
            const other = orgs.find((o) => o.key !== org.key && live.has(o.key))!;
            const res = await env.request(`/v1/tickets/${id}`, { method: r.pick(["PATCH", "DELETE"]), key: other.key, json: { status: "closed" } });
            expect(res.status).toBe(404);
            tally.missing++;
          }
        }
        await checkAllTotals(`seed ${seed} batch ${batch}`);
      }
      // The walk covered every kind of change.
      for (const [kind, n] of Object.entries(tally)) expect(n, kind).toBeGreaterThan(0);
    });
  }

  test("deleting every ticket brings every total back to zero", async () => {
    for (const org of orgs) {
      for (;;) {
        const body = (await (await env.request("/v1/tickets?per_page=100", { key: org.key })).json()) as { data: { id: string }[] };
        if (!body.data.length) break;
        for (const t of body.data) expect((await env.request(`/v1/tickets/${t.id}`, { method: "DELETE", key: org.key })).status).toBe(204);
      }
    }
    await checkAllTotals("after deleting all");
    for (const org of orgs) expect(await realCount(org.orgId)).toBe(0);
  });
});
