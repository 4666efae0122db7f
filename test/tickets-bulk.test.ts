// POST /v1/tickets/bulk: one change to many tickets, all or nothing, one ticket.updated per changed ticket, its limits and its 400s/404s, idempotency, and the fixed path beside /v1/tickets/:id.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { manualClock } from "../src/lib/clock";
import { newId } from "../src/lib/ids";
import { createUser } from "../src/orgs/service";
import { createTestEnv, type TestEnv } from "./helpers";

const T0 = Date.UTC(2026, 6, 1, 8, 0, 0);
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

interface TicketBody {
  id: string;
  status: string;
  priority: string;
  assignee_id: string | null;
  tags: string[];
  updated_at: string;
  [k: string]: unknown;
}
interface EventRow {
  seq: number;
  type: string;
  data: string;
  changed_fields: string | null;
}

let env: TestEnv;
let clock: ReturnType<typeof manualClock>;
let a: Awaited<ReturnType<TestEnv["org"]>>;
let b: Awaited<ReturnType<TestEnv["org"]>>;
let agent: string;
let lastSeq = 0;

async function call(method: string, path: string, json?: unknown, opts: { key?: string; headers?: Record<string, string> } = {}) {
  const res = await env.request(path, { method, key: opts.key ?? a.key, json, headers: opts.headers });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

async function newEvents(): Promise<EventRow[]> {
  const rows = await env.db.all<EventRow>("SELECT seq, type, data, changed_fields FROM events WHERE seq > ? ORDER BY seq", lastSeq);
  if (rows.length) lastSeq = rows.at(-1)!.seq;
  return rows;
}

async function state(): Promise<string> {
  const q = async (sql: string) => JSON.stringify(await env.db.all(sql));
  return [
    await q("SELECT * FROM tickets ORDER BY id"),
    await q("SELECT * FROM ticket_tags ORDER BY org_id, tag, ticket_id"),
    await q("SELECT org_id, status, priority, SUM(count) AS n FROM ticket_counts GROUP BY org_id, status, priority ORDER BY 1, 2, 3"),
    await q("SELECT COUNT(*) AS n FROM events"),
  ].join("\n");
}

async function create(json: Record<string, unknown> = {}, key = a.key): Promise<TicketBody> {
  const r = await call("POST", "/v1/tickets", { subject: "Bulk me", ...json }, { key });
  expect(r.status).toBe(201);
  return r.body;
}

const bulk = (json: unknown, opts?: { key?: string; headers?: Record<string, string> }) => call("POST", "/v1/tickets/bulk", json, opts);

/** The ticket's ticket_tags rows are its tags with its status and times. */
async function expectTagsInStep(ticketId: string) {
  const row = (await env.db.get<{ tags: string; status: string; created_at: number; updated_at: number }>(
    "SELECT tags, status, created_at, updated_at FROM tickets WHERE id = ?",
    ticketId,
  ))!;
  const want = (JSON.parse(row.tags) as string[]).map((tag) => ({ tag, status: row.status, created_at: row.created_at, updated_at: row.updated_at }));
  expect(await env.db.all("SELECT tag, status, created_at, updated_at FROM ticket_tags WHERE ticket_id = ? ORDER BY tag", ticketId)).toEqual(want);
}

beforeAll(async () => {
  clock = manualClock(T0);
  env = await createTestEnv({ clock });
  a = await env.org("Acme", "pro");
  b = await env.org("Beta", "pro");
  agent = (await createUser(env.deps, { orgId: a.orgId, email: "agent@acme.test", role: "member" })).id;
});
afterAll(() => env.close());
beforeEach(async () => {
  clock.advance(60_000);
  await newEvents();
});

describe("a bulk change", () => {
  test("200 with the tickets after the change in the order of ids; one ticket.updated per changed ticket, none for the unchanged", async () => {
    const [t1, t2, t3] = [await create(), await create({ priority: "high" }), await create()];
    await call("PATCH", `/v1/tickets/${t2.id}`, { status: "resolved" });
    await newEvents();
    clock.advance(1000);
    const ids = [t3.id, t2.id, t1.id];
    const r = await bulk({ ids, set: { status: "resolved", priority: "high" } });
    expect(r.status).toBe(200);
    expect(Object.keys(r.body)).toEqual(["data"]);
    expect(r.body.data.map((t: TicketBody) => t.id)).toEqual(ids);
    for (const t of r.body.data) expect([t.status, t.priority]).toEqual(["resolved", "high"]);
    // t2 was resolved and high already: untouched, its updated_at as it was.
    const before2 = (await call("GET", `/v1/tickets/${t2.id}`)).body;
    expect(r.body.data[1]).toEqual(before2);
    expect(r.body.data[0].updated_at).toBe(iso(clock.now()));
    const events = await newEvents();
    expect(events.map((e) => [e.type, JSON.parse(e.data).id, (JSON.parse(e.changed_fields!) as string[]).sort()])).toEqual([
      ["ticket.updated", t3.id, ["priority", "status"]],
      ["ticket.updated", t1.id, ["priority", "status"]],
    ]);
    expect(JSON.parse(events[0]!.data)).toEqual(r.body.data[0]);
    for (const t of r.body.data) expect((await call("GET", `/v1/tickets/${t.id}`)).body).toEqual(t);
  });

  test("assignee_id sets and clears; add_tags and remove_tags change each ticket's own set; tag rows follow", async () => {
    const t1 = await create({ tags: ["old", "keep"] });
    const t2 = await create();
    const ids = [t1.id, t2.id];
    await newEvents();
    let r = await bulk({ ids, set: { assignee_id: agent, add_tags: ["New", "keep"], remove_tags: ["old"] } });
    expect(r.status).toBe(200);
    expect(r.body.data.map((t: TicketBody) => [t.assignee_id, t.tags])).toEqual([
      [agent, ["keep", "new"]],
      [agent, ["keep", "new"]],
    ]);
    for (const id of ids) await expectTagsInStep(id);
    expect((await newEvents()).map((e) => (JSON.parse(e.changed_fields!) as string[]).sort())).toEqual([
      ["assignee_id", "tags"],
      ["assignee_id", "tags"],
    ]);
    r = await bulk({ ids, set: { assignee_id: null, status: "closed" } });
    expect(r.body.data.map((t: TicketBody) => [t.assignee_id, t.status])).toEqual([
      [null, "closed"],
      [null, "closed"],
    ]);
    for (const id of ids) await expectTagsInStep(id);
    expect((await newEvents()).length).toBe(2);
    // Nothing to change anywhere: 200, no event, nothing written.
    const before = await state();
    r = await bulk({ ids, set: { status: "closed", remove_tags: ["absent"], add_tags: ["keep"] } });
    expect(r.status).toBe(200);
    expect(await newEvents()).toEqual([]);
    expect(await state()).toBe(before);
  });

  test("100 tickets at once", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 100; i++) ids.push((await create()).id);
    await newEvents();
    const r = await bulk({ ids, set: { add_tags: ["batch"] } });
    expect(r.status).toBe(200);
    expect(r.body.data.map((t: TicketBody) => t.id)).toEqual(ids);
    expect((await newEvents()).map((e) => JSON.parse(e.data).id)).toEqual(ids);
    expect((await env.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM ticket_tags WHERE org_id = ? AND tag = 'batch'", a.orgId))!.n).toBe(100);
  });
});

describe("all or nothing", () => {
  test("an unknown or foreign id is a 404 naming it (the first in the order of ids), and nothing changes", async () => {
    const mine = [await create({ tags: ["x"] }), await create()];
    const theirs = await create({}, b.key);
    const unknown = newId("tkt");
    const before = await state();
    const cases: [string[], string][] = [
      [[mine[0]!.id, unknown, mine[1]!.id], unknown],
      [[mine[0]!.id, theirs.id], theirs.id],
      [[theirs.id, unknown], theirs.id],
      [[mine[1]!.id, "bulk"], "bulk"],
    ];
    for (const [ids, missing] of cases) {
      const r = await bulk({ ids, set: { status: "closed", add_tags: ["y"] } });
      expect({ status: r.status, error: r.body.error }).toEqual({ status: 404, error: "not_found" });
      expect(r.body.message).toBe(`Ticket ${missing} was not found.`);
    }
    expect(await state()).toBe(before);
  });

  test("a ticket the tags would take past 20 refuses the whole change (400 naming set.add_tags and the ticket)", async () => {
    const free = await create();
    const full = await create({ tags: Array.from({ length: 19 }, (_, i) => `f${String(i).padStart(2, "0")}`) });
    const before = await state();
    const r = await bulk({ ids: [free.id, full.id], set: { add_tags: ["one", "two"], status: "closed" } });
    expect(r.status).toBe(400);
    expect(r.body.details).toEqual([{ field: "set.add_tags", message: expect.stringContaining(full.id) }]);
    expect(await state()).toBe(before);
  });

  test("the request's 400s name the field and change nothing", async () => {
    const t = await create();
    const many = (n: number) => Array.from({ length: n }, () => newId("tkt"));
    const cases: [unknown, string[]][] = [
      [{ ids: [], set: { status: "closed" } }, ["ids"]],
      [{ ids: many(101), set: { status: "closed" } }, ["ids"]],
      [{ ids: [t.id, t.id], set: { status: "closed" } }, ["ids.1"]],
      [{ ids: [t.id, "tkt_other0000000000", t.id], set: { status: "closed" } }, ["ids.2"]],
      [{ ids: t.id, set: { status: "closed" } }, ["ids"]],
      [{ ids: [7], set: { status: "closed" } }, ["ids.0"]],
      [{ ids: ["x".repeat(65)], set: { status: "closed" } }, ["ids.0"]],
      [{ ids: [t.id] }, ["set"]],
      [{ ids: [t.id], set: {} }, ["set"]],
      [{ ids: [t.id], set: { subject: "not bulk-editable" } }, ["set.subject"]],
      [{ ids: [t.id], set: { tags: ["a"] } }, ["set.tags"]],
      [{ ids: [t.id], set: { status: "reopened" } }, ["set.status"]],
      [{ ids: [t.id], set: { priority: "URGENT" } }, ["set.priority"]],
      [{ ids: [t.id], set: { assignee_id: b.userId } }, ["set.assignee_id"]],
      [{ ids: [t.id], set: { assignee_id: "user_\u0000" } }, ["set.assignee_id"]],
      [{ ids: [t.id], set: { add_tags: ["ok", "not ok"] } }, ["set.add_tags.1"]],
      [{ ids: [t.id], set: { remove_tags: [""] } }, ["set.remove_tags.0"]],
      [{ ids: [t.id], set: { add_tags: ["a", "b"], remove_tags: ["B"] } }, ["set.remove_tags.0"]],
      [{ ids: [t.id], set: { status: "closed" }, extra: 1 }, ["extra"]],
    ];
    const before = await state();
    for (const [json, fields] of cases) {
      const r = await bulk(json);
      expect(
        { status: r.status, error: r.body?.error, fields: r.body?.details?.map((d: { field: string }) => d.field) },
        JSON.stringify(json).slice(0, 200),
      ).toEqual({
        status: 400,
        error: "validation_error",
        fields,
      });
    }
    expect(await state()).toBe(before);
  });
});

describe("the route", () => {
  test("an Idempotency-Key replays the answer and changes nothing the second time", async () => {
    const t = await create();
    await newEvents();
    const headers = { "idempotency-key": `bulk-${t.id}` };
    const first = await bulk({ ids: [t.id], set: { status: "in_progress" } }, { headers });
    expect(first.status).toBe(200);
    expect((await newEvents()).length).toBe(1);
    clock.advance(1000);
    const before = await state();
    const again = await bulk({ ids: [t.id], set: { status: "in_progress" } }, { headers });
    expect(again.status).toBe(200);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.body).toEqual(first.body);
    expect(await state()).toBe(before);
    const other = await bulk({ ids: [t.id], set: { status: "closed" } }, { headers });
    expect(other.status).toBe(422);
  });

  test("/v1/tickets/bulk is never taken for a ticket id: other methods are 405 with Allow: POST", async () => {
    const before = await state();
    for (const method of ["GET", "PATCH", "DELETE", "PUT"]) {
      const r = await call(method, "/v1/tickets/bulk", method === "GET" || method === "DELETE" ? undefined : { status: "closed" });
      expect({ method, status: r.status, error: r.body?.error, allow: r.headers.get("allow") }).toEqual({
        method,
        status: 405,
        error: "method_not_allowed",
        allow: "POST",
      });
    }
    expect(await state()).toBe(before);
    // A ticket's own routes are as they were.
    const t = await create();
    expect((await call("GET", `/v1/tickets/${t.id}`)).status).toBe(200);
  });

  test("without a key 401, on the free plan 403; nothing changes", async () => {
    const t = await create();
    const free = await env.org("Free", "free");
    const before = await state();
    const anon = await env.request("/v1/tickets/bulk", { method: "POST", json: { ids: [t.id], set: { status: "closed" } } });
    expect(anon.status).toBe(401);
    const r = await bulk({ ids: [t.id], set: { status: "closed" } }, { key: free.key });
    expect({ status: r.status, error: r.body.error }).toEqual({ status: 403, error: "plan_required" });
    expect(await state()).toBe(before);
  });
});
