// The tickets outbox: one event per create/update/delete, in the change's own transaction; none for a refused change.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { manualClock } from "../src/lib/clock";
import { createSqliteTestEnv, createTestEnv, ON_POSTGRES, type SqliteTestEnv, type TestEnv } from "./helpers";

const T0 = Date.UTC(2026, 1, 27, 10, 30, 0);

interface EventRow {
  seq: number;
  id: string;
  org_id: string;
  type: string;
  data: string;
  changed_fields: string | null;
  created_at: number;
  dispatched_at: number | null;
}

let env: TestEnv;
let clock: ReturnType<typeof manualClock>;
let a: Awaited<ReturnType<TestEnv["org"]>>;
let b: Awaited<ReturnType<TestEnv["org"]>>;
let free: Awaited<ReturnType<TestEnv["org"]>>;
let lastSeq = 0;

beforeAll(async () => {
  clock = manualClock(T0);
  env = await createTestEnv({ clock, config: { maxJsonBytes: 2048 } });
  a = await env.org("Acme", "pro");
  b = await env.org("Beta", "pro");
  free = await env.org("Free", "free");
});
afterAll(() => env.close());

/** Events recorded since the previous call. */
async function newEvents(): Promise<EventRow[]> {
  const rows = (await env.db.all("SELECT * FROM events WHERE seq > ? ORDER BY seq", lastSeq)) as EventRow[];
  if (rows.length) lastSeq = rows.at(-1)!.seq;
  return rows;
}

beforeEach(async () => {
  await newEvents();
});

async function createTicket(json: unknown = { subject: "Login issues on mobile", priority: "high" }) {
  const res = await env.request("/v1/tickets", { method: "POST", key: a.key, json });
  expect(res.status).toBe(201);
  return (await res.json()) as Record<string, unknown> & { id: string };
}

describe("each change writes exactly one event", () => {
  test("create → ticket.created with the ticket as the API returned it", async () => {
    clock.set(T0);
    const ticket = await createTicket();
    const events = await newEvents();
    expect(events.length).toBe(1);
    const e = events[0]!;
    expect(e.type).toBe("ticket.created");
    expect(e.org_id).toBe(a.orgId);
    expect(JSON.parse(e.data)).toEqual(ticket);
    expect(e.changed_fields).toBeNull();
    expect(e.created_at).toBe(T0);
    expect(e.dispatched_at).toBeNull();
    expect(e.id).toMatch(/^evt_[0-9a-z]{16}$/);
  });

  test("update → ticket.updated with the new ticket and the names of the changed fields only", async () => {
    const ticket = await createTicket({ subject: "s", description: "d", priority: "low" });
    await newEvents();
    const cases: [Record<string, unknown>, string[]][] = [
      [{ status: "in_progress" }, ["status"]],
      [{ priority: "urgent", status: "in_progress" }, ["priority"]],
      [{ subject: "new subject", description: "new description" }, ["description", "subject"]],
      [{ description: null }, ["description"]],
      [{ subject: "all", description: "x", status: "closed", priority: "medium" }, ["description", "priority", "status", "subject"]],
    ];
    for (const [json, changed] of cases) {
      clock.advance(1000);
      const res = await env.request(`/v1/tickets/${ticket.id}`, { method: "PATCH", key: a.key, json });
      expect(res.status).toBe(200);
      const body = await res.json();
      const events = await newEvents();
      expect(events.length, JSON.stringify(json)).toBe(1);
      expect(events[0]!.type).toBe("ticket.updated");
      expect(events[0]!.org_id).toBe(a.orgId);
      expect(JSON.parse(events[0]!.data)).toEqual(body);
      expect((JSON.parse(events[0]!.changed_fields!) as string[]).sort()).toEqual(changed);
      expect(events[0]!.created_at).toBe(clock.now());
    }
  });

  test("a no-op patch (same values) writes no event", async () => {
    const ticket = await createTicket({ subject: "same", priority: "high" });
    await newEvents();
    const res = await env.request(`/v1/tickets/${ticket.id}`, { method: "PATCH", key: a.key, json: { subject: " same ", status: "open", priority: "high" } });
    expect(res.status).toBe(200);
    expect(await newEvents()).toEqual([]);
  });

  test("delete → ticket.deleted with the ticket as it was", async () => {
    const ticket = await createTicket();
    await env.request(`/v1/tickets/${ticket.id}`, { method: "PATCH", key: a.key, json: { status: "resolved" } });
    const before = await (await env.request(`/v1/tickets/${ticket.id}`, { key: a.key })).json();
    await newEvents();
    const res = await env.request(`/v1/tickets/${ticket.id}`, { method: "DELETE", key: a.key });
    expect(res.status).toBe(204);
    const events = await newEvents();
    expect(events.length).toBe(1);
    expect(events[0]!.type).toBe("ticket.deleted");
    expect(events[0]!.org_id).toBe(a.orgId);
    expect(JSON.parse(events[0]!.data)).toEqual(before);
    expect(events[0]!.changed_fields).toBeNull();
  });

  test("events are in the order of the changes", async () => {
    const t = await createTicket();
    await env.request(`/v1/tickets/${t.id}`, { method: "PATCH", key: a.key, json: { status: "closed" } });
    await env.request(`/v1/tickets/${t.id}`, { method: "DELETE", key: a.key });
    expect((await newEvents()).map((e) => e.type)).toEqual(["ticket.created", "ticket.updated", "ticket.deleted"]);
  });

  test("each event belongs to the organization of the change", async () => {
    await env.request("/v1/tickets", { method: "POST", key: b.key, json: { subject: "b's" } });
    const events = await newEvents();
    expect(events.map((e) => e.org_id)).toEqual([b.orgId]);
  });
});

describe("a failing change writes no event", () => {
  let existing: { id: string };
  beforeAll(async () => {
    existing = await createTicket({ subject: "existing" });
  });

  const failing: [string, () => Promise<Response>, number][] = [
    ["PATCH of a missing ticket", () => env.request("/v1/tickets/tkt_0000000000000000", { method: "PATCH", key: a.key, json: { status: "closed" } }), 404],
    ["DELETE of a missing ticket", () => env.request("/v1/tickets/tkt_0000000000000000", { method: "DELETE", key: a.key }), 404],
    [
      "PATCH of another organization's ticket",
      () => env.request(`/v1/tickets/${existing.id}`, { method: "PATCH", key: b.key, json: { status: "closed" } }),
      404,
    ],
    ["DELETE of another organization's ticket", () => env.request(`/v1/tickets/${existing.id}`, { method: "DELETE", key: b.key }), 404],
    ["an invalid create", () => env.request("/v1/tickets", { method: "POST", key: a.key, json: { subject: "  " } }), 400],
    ["an invalid patch", () => env.request(`/v1/tickets/${existing.id}`, { method: "PATCH", key: a.key, json: { status: "nope" } }), 400],
    ["an empty patch", () => env.request(`/v1/tickets/${existing.id}`, { method: "PATCH", key: a.key, json: {} }), 400],
    ["an unauthenticated create", () => env.request("/v1/tickets", { method: "POST", json: { subject: "x" } }), 401],
    ["a free-plan create", () => env.request("/v1/tickets", { method: "POST", key: free.key, json: { subject: "x" } }), 403],
    [
      "a create over the size limit",
      () => env.request("/v1/tickets", { method: "POST", key: a.key, json: { subject: "x", description: "y".repeat(3000) } }),
      413,
    ],
    ["a create in text/plain", () => env.request("/v1/tickets", { method: "POST", key: a.key, body: "x", headers: { "content-type": "text/plain" } }), 415],
  ];
  for (const [name, send, status] of failing) {
    test(name, async () => {
      await newEvents();
      const res = await send();
      expect(res.status).toBe(status);
      expect(await newEvents()).toEqual([]);
    });
  }
});

// SQLite only: the fault is a table dropped behind the app's back (on PostgreSQL that would break the pooled database).
describe.skipIf(ON_POSTGRES)("the event and the change share one transaction", () => {
  // Without the events table, recording fails inside the transaction: the change itself must roll back too.
  let broken: SqliteTestEnv;
  let key: string;
  let ticket: Record<string, unknown> & { id: string };
  const count = async (sql: string) => ((await broken.db.get(sql)) as { n: number }).n;

  beforeAll(async () => {
    broken = await createSqliteTestEnv();
    key = (await broken.org("Atomic", "pro")).key;
    ticket = (await (await broken.request("/v1/tickets", { method: "POST", key, json: { subject: "before", priority: "low" } })).json()) as typeof ticket;
    broken.handle.sqlite.exec("DROP TABLE events");
  });
  afterAll(() => broken.close());

  const sums = async () => await broken.db.all("SELECT org_id, status, priority, count FROM ticket_counts ORDER BY 1, 2, 3");

  test("a create whose event cannot be written leaves no ticket and no count", async () => {
    const countsBefore = await sums();
    const res = await broken.request("/v1/tickets", { method: "POST", key, json: { subject: "lost" } });
    expect(res.status).toBe(500);
    expect(await count("SELECT COUNT(*) AS n FROM tickets")).toBe(1);
    expect(await sums()).toEqual(countsBefore);
  });

  test("an update whose event cannot be written leaves the ticket and counts as they were", async () => {
    const countsBefore = await sums();
    const res = await broken.request(`/v1/tickets/${ticket.id}`, { method: "PATCH", key, json: { status: "closed", subject: "after" } });
    expect(res.status).toBe(500);
    expect(await (await broken.request(`/v1/tickets/${ticket.id}`, { key })).json()).toEqual(ticket);
    expect(await sums()).toEqual(countsBefore);
  });

  test("a delete whose event cannot be written leaves the ticket", async () => {
    const countsBefore = await sums();
    const res = await broken.request(`/v1/tickets/${ticket.id}`, { method: "DELETE", key });
    expect(res.status).toBe(500);
    expect((await broken.request(`/v1/tickets/${ticket.id}`, { key })).status).toBe(200);
    expect(await sums()).toEqual(countsBefore);
  });
});
