// Listing tickets: newest first, ties broken by id, every page walk complete and without repeats, filters, edges.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { manualClock } from "../src/lib/clock";
import { createTestEnv, type TestEnv } from "./helpers";

const T0 = Date.UTC(2026, 1, 25, 14, 30, 0);
const STATUSES = ["open", "in_progress", "resolved", "closed"] as const;
const PRIORITIES = ["low", "medium", "high", "urgent"] as const;

interface Made {
  id: string;
  at: number;
  status: string;
  priority: string;
}
interface ListBody {
  data: { id: string; subject: string; status: string; priority: string; created_at: string }[];
  meta: { page: number; per_page: number; total: number };
}

let env: TestEnv;
let clock: ReturnType<typeof manualClock>;
let a: Awaited<ReturnType<TestEnv["org"]>>;
const made: Made[] = [];

/** What the API must return: created_at descending, then id descending (byte order, as SQLite compares text). */
function expectedOrder(rows: Made[]): string[] {
  return [...rows].sort((x, y) => (x.at !== y.at ? y.at - x.at : x.id < y.id ? 1 : x.id > y.id ? -1 : 0)).map((r) => r.id);
}

async function list(query: string, key = a.key): Promise<ListBody> {
  const res = await env.request(`/v1/tickets?${query}`, { key });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as ListBody;
}

/** Walks every page until an empty one; checks each page's meta on the way. */
async function walk(filter: string, perPage: number, total: number): Promise<string[]> {
  const ids: string[] = [];
  const pages = Math.ceil(total / perPage);
  for (let page = 1; page <= pages + 1; page++) {
    const body = await list(`${filter}${filter ? "&" : ""}page=${page}&per_page=${perPage}`);
    expect(body.meta).toEqual({ page, per_page: perPage, total });
    const expectedSize = page < pages ? perPage : page === pages ? total - perPage * (pages - 1) : 0;
    expect(body.data.length, `page ${page} of ${filter || "all"} by ${perPage}`).toBe(expectedSize);
    ids.push(...body.data.map((t) => t.id));
  }
  return ids;
}

beforeAll(async () => {
  clock = manualClock(T0);
  env = await createTestEnv({ clock });
  a = await env.org("Acme", "pro");
  // Three instants with many tickets each (ties), plus distinct instants, created out of time order.
  const instants = [
    ...Array(13).fill(T0),
    ...Array(9).fill(T0 + 1000),
    ...Array(5).fill(T0 + 1),
    ...[7, 3, 9, 2, 11, 5].map((s) => T0 + s * 60_000),
    ...Array(4).fill(T0 - 86_400_000),
  ];
  for (const [i, at] of instants.entries()) {
    clock.set(at);
    const priority = PRIORITIES[(i * 7) % 4]!;
    const res = await env.request("/v1/tickets", { method: "POST", key: a.key, json: { subject: `Ticket ${i}`, priority } });
    expect(res.status).toBe(201);
    const t = (await res.json()) as { id: string };
    const status = STATUSES[(i * 3 + (i >> 2)) % 4]!;
    if (status !== "open") {
      const p = await env.request(`/v1/tickets/${t.id}`, { method: "PATCH", key: a.key, json: { status } });
      expect(p.status).toBe(200);
    }
    made.push({ id: t.id, at, status, priority });
  }
});
afterAll(() => env.close());

describe("GET /v1/tickets pagination", () => {
  test("defaults: page 1, 25 per page, the total, newest first", async () => {
    const body = await list("");
    expect(body.meta).toEqual({ page: 1, per_page: 25, total: made.length });
    expect(body.data.map((t) => t.id)).toEqual(expectedOrder(made).slice(0, 25));
  });

  test("the list item is the whole ticket, as GET returns it", async () => {
    const body = await list("per_page=3");
    for (const item of body.data) {
      expect(item as unknown).toEqual(await (await env.request(`/v1/tickets/${item.id}`, { key: a.key })).json());
    }
  });

  test("the reference's response shape: data array and meta {page, per_page, total} only", async () => {
    const body = await list("page=1&per_page=25");
    expect(Object.keys(body).sort()).toEqual(["data", "meta"]);
    expect(Object.keys(body.meta).sort()).toEqual(["page", "per_page", "total"]);
  });

  for (const perPage of [1, 2, 7, 10, 13, 25, 36, 100]) {
    test(`walking every page by ${perPage} returns each ticket exactly once, in order`, async () => {
      const ids = await walk("", perPage, made.length);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids).toEqual(expectedOrder(made));
    });
  }

  test("ties on created_at are broken by id, descending", async () => {
    const body = await list("per_page=100");
    const tied = body.data.filter((t) => made.find((m) => m.id === t.id)!.at === T0).map((t) => t.id);
    expect(tied.length).toBe(13);
    expect(tied).toEqual([...tied].sort().reverse());
  });

  test("first, last and past-the-end pages", async () => {
    const order = expectedOrder(made);
    const first = await list("page=1&per_page=10");
    expect(first.data.map((t) => t.id)).toEqual(order.slice(0, 10));
    const lastPage = Math.ceil(made.length / 10);
    const last = await list(`page=${lastPage}&per_page=10`);
    expect(last.data.map((t) => t.id)).toEqual(order.slice((lastPage - 1) * 10));
    for (const page of [lastPage + 1, lastPage + 50, 1_000_000]) {
      const past = await list(`page=${page}&per_page=10`);
      expect(past).toEqual({ data: [], meta: { page, per_page: 10, total: made.length } });
    }
  });

  test("an organization without tickets: empty data, total 0", async () => {
    const other = await env.org("Empty", "pro");
    expect(await list("", other.key)).toEqual({ data: [], meta: { page: 1, per_page: 25, total: 0 } });
    expect(await list("page=3&per_page=5&status=closed", other.key)).toEqual({ data: [], meta: { page: 3, per_page: 5, total: 0 } });
  });
});

describe("GET /v1/tickets filters", () => {
  for (const status of STATUSES) {
    test(`status=${status}: the right tickets, total and order across pages`, async () => {
      const rows = made.filter((m) => m.status === status);
      expect(rows.length).toBeGreaterThan(0);
      expect(await walk(`status=${status}`, 3, rows.length)).toEqual(expectedOrder(rows));
    });
  }

  for (const priority of PRIORITIES) {
    test(`priority=${priority}: the right tickets, total and order across pages`, async () => {
      const rows = made.filter((m) => m.priority === priority);
      expect(rows.length).toBeGreaterThan(0);
      expect(await walk(`priority=${priority}`, 4, rows.length)).toEqual(expectedOrder(rows));
    });
  }

  test("status and priority together, for every combination", async () => {
    let nonEmpty = 0;
    for (const status of STATUSES) {
      for (const priority of PRIORITIES) {
        const rows = made.filter((m) => m.status === status && m.priority === priority);
        if (rows.length) nonEmpty++;
        expect(await walk(`status=${status}&priority=${priority}`, 2, rows.length), `${status}/${priority}`).toEqual(expectedOrder(rows));
      }
    }
    expect(nonEmpty).toBeGreaterThan(4);
  });

  test("every returned ticket matches the filter", async () => {
    const body = await list("status=resolved&priority=high&per_page=100");
    for (const t of body.data) expect([t.status, t.priority]).toEqual(["resolved", "high"]);
  });
});
