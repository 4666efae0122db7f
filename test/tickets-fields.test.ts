// Tickets' requester, assignee, tags and custom field values over the API: create and patch, every 400 (nothing changed), changed_fields and events.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { manualClock } from "../src/lib/clock";
import { createUser } from "../src/orgs/service";
import { createTestEnv, type TestEnv } from "./helpers";

const T0 = Date.UTC(2026, 5, 1, 9, 0, 0);

interface TicketBody {
  id: string;
  status: string;
  requester_id: string | null;
  assignee_id: string | null;
  tags: string[];
  custom_fields: Record<string, unknown>;
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
let foreignUser: string;
let contact: string;
let deletedContact: string;
let foreignContact: string;
let lastSeq = 0;

async function call(method: string, path: string, json?: unknown, key = a.key) {
  const res = await env.request(path, { method, key, json });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function ok(method: string, path: string, json: unknown, status = method === "POST" ? 201 : 200, key = a.key) {
  const r = await call(method, path, json, key);
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  return r.body;
}

/** Events recorded since the previous call. */
async function newEvents(): Promise<EventRow[]> {
  const rows = await env.db.all<EventRow>("SELECT seq, type, data, changed_fields FROM events WHERE seq > ? ORDER BY seq", lastSeq);
  if (rows.length) lastSeq = rows.at(-1)!.seq;
  return rows;
}

/** Everything a refused request must leave as it was. */
async function state(): Promise<string> {
  const q = async (sql: string) => JSON.stringify(await env.db.all(sql));
  return [
    await q("SELECT * FROM tickets ORDER BY id"),
    await q("SELECT * FROM ticket_tags ORDER BY org_id, tag, ticket_id"),
    await q("SELECT * FROM contacts ORDER BY id"),
    await q("SELECT org_id, status, priority, SUM(count) AS n FROM ticket_counts GROUP BY org_id, status, priority ORDER BY 1, 2, 3"),
    await q("SELECT COUNT(*) AS n FROM events"),
  ].join("\n");
}

/** The request is a 400 naming exactly `fields`, and nothing changed. */
async function refused(method: string, path: string, json: unknown, fields: string[]) {
  const before = await state();
  const r = await call(method, path, json);
  expect({ status: r.status, error: r.body?.error, fields: r.body?.details?.map((d: { field: string }) => d.field) }, JSON.stringify(json)).toEqual({
    status: 400,
    error: "validation_error",
    fields,
  });
  expect(await state()).toBe(before);
  return r.body;
}

async function tagRows(ticketId: string) {
  return env.db.all<{ tag: string; status: string; created_at: number; updated_at: number }>(
    "SELECT tag, status, created_at, updated_at FROM ticket_tags WHERE ticket_id = ? ORDER BY tag",
    ticketId,
  );
}

/** The ticket's ticket_tags rows are its tags with its status and times. */
async function expectTagsInStep(ticketId: string) {
  const row = (await env.db.get<{ tags: string; status: string; created_at: number; updated_at: number }>(
    "SELECT tags, status, created_at, updated_at FROM tickets WHERE id = ?",
    ticketId,
  ))!;
  const want = (JSON.parse(row.tags) as string[]).map((tag) => ({ tag, status: row.status, created_at: row.created_at, updated_at: row.updated_at }));
  expect(await tagRows(ticketId)).toEqual(want);
}

beforeAll(async () => {
  clock = manualClock(T0);
  env = await createTestEnv({ clock });
  a = await env.org("Acme", "pro");
  b = await env.org("Beta", "pro");
  agent = (await createUser(env.deps, { orgId: a.orgId, email: "agent@acme.test", role: "member" })).id;
  foreignUser = b.userId;
  contact = (await ok("POST", "/v1/contacts", { email: "Ana@Example.com", name: "Ana" })).id;
  deletedContact = (await ok("POST", "/v1/contacts", { email: "gone@example.com" })).id;
  expect((await call("DELETE", `/v1/contacts/${deletedContact}`)).status).toBe(204);
  foreignContact = (await ok("POST", "/v1/contacts", { email: "ana@example.com" }, 201, b.key)).id;
  await ok("POST", "/v1/ticket-fields", { key: "order_id", title: "Order", type: "text" });
  await ok("POST", "/v1/ticket-fields", { key: "amount", title: "Amount", type: "number" });
  await ok("POST", "/v1/ticket-fields", { key: "due", title: "Due", type: "date" });
  await ok("POST", "/v1/ticket-fields", { key: "vip", title: "VIP", type: "checkbox" });
  await ok("POST", "/v1/ticket-fields", { key: "plan", title: "Plan", type: "dropdown", options: ["free", "pro"] });
  await ok("POST", "/v1/ticket-fields", { key: "region", title: "Region", type: "text" }, 201, b.key);
});
afterAll(() => env.close());
beforeEach(async () => {
  clock.advance(60_000);
  await newEvents();
});

const create = (json: Record<string, unknown>) => ok("POST", "/v1/tickets", { subject: "Printer on fire", ...json }) as Promise<TicketBody>;
const patch = (id: string, json: unknown) => ok("PATCH", `/v1/tickets/${id}`, json) as Promise<TicketBody>;

describe("the ticket's new fields", () => {
  test("come after created_by, in order, with their defaults: no requester, no assignee, no tags, no values", async () => {
    const t = await create({});
    expect(Object.keys(t)).toEqual([
      "id",
      "subject",
      "description",
      "status",
      "priority",
      "created_by",
      "requester_id",
      "assignee_id",
      "tags",
      "custom_fields",
      "created_at",
      "updated_at",
    ]);
    expect([t.requester_id, t.assignee_id, t.tags, t.custom_fields]).toEqual([null, null, [], {}]);
    expect(await tagRows(t.id)).toEqual([]);
    expect(await ok("GET", `/v1/tickets/${t.id}`, undefined, 200)).toEqual(t);
  });

  test("everything set on create comes back on create, get and in ticket.created", async () => {
    const t = await create({
      requester_id: contact,
      assignee_id: agent,
      tags: ["Billing", "vip:gold", "billing", "a-b_c", "0"],
      custom_fields: { plan: "pro", order_id: "A-1001", amount: 12.5, due: "2026-02-28", vip: false },
    });
    expect(t.requester_id).toBe(contact);
    expect(t.assignee_id).toBe(agent);
    expect(t.tags).toEqual(["0", "a-b_c", "billing", "vip:gold"]);
    expect(t.custom_fields).toEqual({ amount: 12.5, due: "2026-02-28", order_id: "A-1001", plan: "pro", vip: false });
    expect(Object.keys(t.custom_fields)).toEqual(["amount", "due", "order_id", "plan", "vip"]);
    expect(await ok("GET", `/v1/tickets/${t.id}`, undefined, 200)).toEqual(t);
    const events = await newEvents();
    expect(events.map((e) => [e.type, JSON.parse(e.data)])).toEqual([["ticket.created", t]]);
    const row = await env.db.get<{ tags: string; custom_fields: string }>("SELECT tags, custom_fields FROM tickets WHERE id = ?", t.id);
    expect(row).toEqual({
      tags: '["0","a-b_c","billing","vip:gold"]',
      custom_fields: '{"amount":12.5,"due":"2026-02-28","order_id":"A-1001","plan":"pro","vip":false}',
    });
    await expectTagsInStep(t.id);
  });

  test("requester by email: a new contact is created in the same unit, contact.created before ticket.created", async () => {
    const t = await create({ requester: { email: "  New.Person@Example.com ", name: "New Person" } });
    const events = await newEvents();
    expect(events.map((e) => e.type)).toEqual(["contact.created", "ticket.created"]);
    const created = JSON.parse(events[0]!.data);
    expect(t.requester_id).toBe(created.id);
    expect(created).toMatchObject({ email: "New.Person@Example.com", name: "New Person" });
    expect(JSON.parse(events[1]!.data)).toEqual(t);
  });

  test("requester by email: an existing contact (compared case-insensitively) is reused, no contact.created", async () => {
    const t = await create({ requester: { email: "ana@EXAMPLE.com" } });
    expect(t.requester_id).toBe(contact);
    expect((await newEvents()).map((e) => e.type)).toEqual(["ticket.created"]);
    const n = await env.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM contacts WHERE org_id = ?", a.orgId);
    expect(n!.n).toBe(3);
  });

  test("the create-time 400s name the field, and leave nothing behind (no ticket, no contact, no event)", async () => {
    const cases: [Record<string, unknown>, string[]][] = [
      [{ requester_id: contact, requester: { email: "x@example.com" } }, ["requester"]],
      [{ requester: { email: "not-an-email" } }, ["requester.email"]],
      [{ requester: { email: "ok@example.com", name: "line\nbreak" } }, ["requester.name"]],
      [{ requester: { name: "no email" } }, ["requester.email"]],
      [{ requester: { email: "x@example.com", phone: "1" } }, ["requester.phone"]],
      [{ requester_id: "con_doesnotexist0000" }, ["requester_id"]],
      [{ requester_id: foreignContact }, ["requester_id"]],
      [{ requester_id: deletedContact }, ["requester_id"]],
      [{ requester_id: "con_\u0000" }, ["requester_id"]],
      [{ assignee_id: "user_doesnotexist000" }, ["assignee_id"]],
      [{ assignee_id: foreignUser }, ["assignee_id"]],
      [{ assignee_id: 5 }, ["assignee_id"]],
      [{ tags: ["ok", ""] }, ["tags.1"]],
      [{ tags: ["has space"] }, ["tags.0"]],
      [{ tags: ["x".repeat(51)] }, ["tags.0"]],
      [{ tags: ["é"] }, ["tags.0"]],
      [{ tags: ["a/b"] }, ["tags.0"]],
      [{ tags: [7] }, ["tags.0"]],
      [{ tags: "billing" }, ["tags"]],
      [{ tags: Array.from({ length: 21 }, (_, i) => `t${i}`) }, ["tags"]],
      [{ custom_fields: { nope: "x" } }, ["custom_fields.nope"]],
      [{ custom_fields: { region: "eu" } }, ["custom_fields.region"]],
      [{ custom_fields: { amount: "12" } }, ["custom_fields.amount"]],
      [{ custom_fields: { due: "2026-02-30" } }, ["custom_fields.due"]],
      [{ custom_fields: { vip: "yes" } }, ["custom_fields.vip"]],
      [{ custom_fields: { plan: "enterprise" } }, ["custom_fields.plan"]],
      [{ custom_fields: { order_id: { nested: true } } }, ["custom_fields.order_id"]],
      [{ custom_fields: ["order_id"] }, ["custom_fields"]],
    ];
    for (const [json, fields] of cases) await refused("POST", "/v1/tickets", { subject: "refused", ...json }, fields);
  });

  test("20 distinct tags are fine, duplicates (any case) do not count; a requester with a new email that fails leaves no contact", async () => {
    const twenty = Array.from({ length: 20 }, (_, i) => `t${String(i).padStart(2, "0")}`);
    const t = await create({ tags: [...twenty, ...twenty.map((x) => x.toUpperCase())] });
    expect(t.tags).toEqual(twenty);
    await expectTagsInStep(t.id);
    // The ticket's own check fails after the contact would have been made: the unit rolls both back.
    await refused("POST", "/v1/tickets", { subject: "x", requester: { email: "rolled.back@example.com" }, custom_fields: { amount: "NaN" } }, [
      "custom_fields.amount",
    ]);
  });
});

describe("required custom fields", () => {
  test("a create without a required field's value is a 400 naming it; a PATCH cannot clear it but may leave it out", async () => {
    const t = await create({ custom_fields: { order_id: "A-1" } });
    await ok("POST", "/v1/ticket-fields", { key: "severity", title: "Severity", type: "dropdown", options: ["s1", "s2"], required: true });
    try {
      await refused("POST", "/v1/tickets", { subject: "no severity" }, ["custom_fields.severity"]);
      await refused("POST", "/v1/tickets", { subject: "null severity", custom_fields: { severity: null } }, ["custom_fields.severity"]);
      const s = await create({ custom_fields: { severity: "s1" } });
      expect(s.custom_fields).toEqual({ severity: "s1" });
      await refused("PATCH", `/v1/tickets/${s.id}`, { custom_fields: { severity: null } }, ["custom_fields.severity"]);
      // A ticket made before the field was required: other values change freely.
      expect((await patch(t.id, { custom_fields: { order_id: "A-2" } })).custom_fields).toEqual({ order_id: "A-2" });
    } finally {
      const fields = await ok("GET", "/v1/ticket-fields?per_page=100", undefined, 200);
      const severity = fields.data.find((f: { key: string }) => f.key === "severity");
      expect((await call("DELETE", `/v1/ticket-fields/${severity.id}`)).status).toBe(204);
    }
  });
});

describe("PATCH", () => {
  test("requester_id and assignee_id are set and cleared; changed_fields names them; the event has the ticket as answered", async () => {
    const t = await create({});
    await newEvents();
    const steps: [Record<string, unknown>, string[]][] = [
      [{ requester_id: contact }, ["requester_id"]],
      [{ assignee_id: agent }, ["assignee_id"]],
      [{ assignee_id: a.userId, requester_id: null, status: "in_progress" }, ["assignee_id", "requester_id", "status"]],
      [{ assignee_id: null }, ["assignee_id"]],
    ];
    for (const [json, changed] of steps) {
      clock.advance(1000);
      const body = await patch(t.id, json);
      for (const [k, v] of Object.entries(json)) expect(body[k]).toEqual(v);
      const events = await newEvents();
      expect(events.length).toBe(1);
      expect(events[0]!.type).toBe("ticket.updated");
      expect(JSON.parse(events[0]!.data)).toEqual(body);
      expect((JSON.parse(events[0]!.changed_fields!) as string[]).sort()).toEqual(changed);
    }
  });

  test("tags replaces the set; add_tags and remove_tags change it; changed_fields names tags; the rows follow", async () => {
    const t = await create({ tags: ["one"] });
    await newEvents();
    const steps: [Record<string, unknown>, string[], string[]][] = [
      [{ tags: ["Two", "three", "two"] }, ["three", "two"], ["tags"]],
      [{ add_tags: ["four", "TWO"] }, ["four", "three", "two"], ["tags"]],
      [{ remove_tags: ["three", "absent"] }, ["four", "two"], ["tags"]],
      [{ add_tags: ["five"], remove_tags: ["four", "two"] }, ["five"], ["tags"]],
      [{ tags: [], status: "resolved" }, [], ["status", "tags"]],
      [{ add_tags: ["back"], status: "open", priority: "high" }, ["back"], ["priority", "status", "tags"]],
    ];
    for (const [json, tags, changed] of steps) {
      clock.advance(1000);
      const body = await patch(t.id, json);
      expect(body.tags).toEqual(tags);
      await expectTagsInStep(t.id);
      const events = await newEvents();
      expect(events.map((e) => e.type)).toEqual(["ticket.updated"]);
      expect((JSON.parse(events[0]!.changed_fields!) as string[]).sort()).toEqual(changed);
    }
  });

  test("custom_fields merges: keys sent are set or cleared (null), the others kept; changed_fields names custom_fields", async () => {
    const t = await create({ custom_fields: { order_id: "A-1", amount: 3 } });
    await newEvents();
    const steps: [Record<string, unknown>, Record<string, unknown>][] = [
      [{ vip: true }, { amount: 3, order_id: "A-1", vip: true }],
      [
        { amount: null, plan: "free" },
        { order_id: "A-1", plan: "free", vip: true },
      ],
      [{ order_id: null, plan: null, vip: null }, {}],
    ];
    for (const [values, after] of steps) {
      clock.advance(1000);
      const body = await patch(t.id, { custom_fields: values });
      expect(body.custom_fields).toEqual(after);
      const events = await newEvents();
      expect(events.map((e) => [e.type, JSON.parse(e.changed_fields!)])).toEqual([["ticket.updated", ["custom_fields"]]]);
    }
  });

  test("a PATCH that sets the values the ticket has changes nothing and records no event (a deleted requester kept as is too)", async () => {
    const t = await create({ requester_id: contact, assignee_id: agent, tags: ["x", "y"], custom_fields: { order_id: "A-1", vip: true } });
    await newEvents();
    const before = await state();
    clock.advance(5000);
    const same = [
      { requester_id: contact, assignee_id: agent },
      { tags: ["Y", "x"] },
      { add_tags: ["x"], remove_tags: ["absent"] },
      { custom_fields: { order_id: "A-1" } },
      { custom_fields: { amount: null } },
      { custom_fields: {} },
      { subject: "Printer on fire", status: "open", requester_id: contact, tags: ["x", "y"], custom_fields: { vip: true } },
    ];
    for (const json of same) expect(await patch(t.id, json)).toEqual(t);
    expect(await newEvents()).toEqual([]);
    expect(await state()).toBe(before);
    // Its requester deleted meanwhile: sending it back is still no change (and no 400).
    const gone = (await ok("POST", "/v1/contacts", { email: "soon.gone@example.com" })).id;
    const u = await patch(t.id, { requester_id: gone });
    expect((await call("DELETE", `/v1/contacts/${gone}`)).status).toBe(204);
    await newEvents();
    expect((await patch(t.id, { requester_id: gone, subject: "Printer on fire" })).updated_at).toBe(u.updated_at);
    expect(await newEvents()).toEqual([]);
  });

  test("the PATCH-time 400s name the field and change nothing", async () => {
    const t = await create({ tags: ["keep"], custom_fields: { order_id: "A-1" } });
    const full = Array.from({ length: 19 }, (_, i) => `f${String(i).padStart(2, "0")}`);
    const crowded = await create({ tags: [...full, "last"] });
    const path = `/v1/tickets/${t.id}`;
    const cases: [string, Record<string, unknown>, string[]][] = [
      [path, { tags: ["a"], add_tags: ["b"] }, ["add_tags"]],
      [path, { tags: ["a"], remove_tags: ["b"] }, ["remove_tags"]],
      [path, { add_tags: ["a", "b"], remove_tags: ["c", "B"] }, ["remove_tags.1"]],
      [path, { add_tags: ["ok", "NOT OK"] }, ["add_tags.1"]],
      [path, { remove_tags: [""] }, ["remove_tags.0"]],
      [path, { tags: ["-".repeat(51)] }, ["tags.0"]],
      [path, { tags: Array.from({ length: 21 }, (_, i) => `t${i}`) }, ["tags"]],
      [`/v1/tickets/${crowded.id}`, { add_tags: ["one-more"] }, ["add_tags"]],
      [path, { requester_id: deletedContact }, ["requester_id"]],
      [path, { requester_id: foreignContact }, ["requester_id"]],
      [path, { assignee_id: foreignUser }, ["assignee_id"]],
      [path, { assignee_id: "user_\u0000" }, ["assignee_id"]],
      [path, { custom_fields: { region: "eu" } }, ["custom_fields.region"]],
      [path, { custom_fields: { amount: true } }, ["custom_fields.amount"]],
      [path, { custom_fields: { plan: "pro", amount: "x" } }, ["custom_fields.amount"]],
      [path, { custom_fields: "order_id" }, ["custom_fields"]],
      [path, { add_tags: "x" }, ["add_tags"]],
    ];
    for (const [p, json, fields] of cases) await refused("PATCH", p, json, fields);
    // One tag swapped on a ticket at the limit is fine: the count is of the result.
    expect((await patch(crowded.id, { add_tags: ["swap"], remove_tags: ["last"] })).tags.length).toBe(20);
  });

  test("another organization's ticket is a 404 whatever the body, and stays as it was", async () => {
    const theirs = (await ok("POST", "/v1/tickets", { subject: "B's", tags: ["b"] }, 201, b.key)) as TicketBody;
    const before = await state();
    for (const json of [{ add_tags: ["x"] }, { tags: [] }, { assignee_id: agent }, { requester_id: contact }, { custom_fields: { order_id: "A" } }]) {
      const r = await call("PATCH", `/v1/tickets/${theirs.id}`, json);
      expect({ status: r.status, error: r.body.error }).toEqual({ status: 404, error: "not_found" });
    }
    expect(await state()).toBe(before);
  });

  test("status changes, edits and comments (a touch) keep the tag rows' copied status and updated_at equal to the ticket's", async () => {
    const t = await create({ tags: ["a", "b"] });
    for (const status of ["in_progress", "resolved", "closed", "open"]) {
      clock.advance(1000);
      await patch(t.id, { status });
      await expectTagsInStep(t.id);
    }
    clock.advance(1000);
    await patch(t.id, { subject: "only the subject" });
    await expectTagsInStep(t.id);
    clock.advance(1000);
    await ok("POST", `/v1/tickets/${t.id}/comments`, { body: "A reply moves updated_at." });
    const moved = (await ok("GET", `/v1/tickets/${t.id}`, undefined, 200)) as TicketBody;
    expect(moved.updated_at).toBe(new Date(clock.now()).toISOString().replace(/\.\d{3}Z$/, "Z"));
    await expectTagsInStep(t.id);
    expect((await call("DELETE", `/v1/tickets/${t.id}`)).status).toBe(204);
    expect(await tagRows(t.id)).toEqual([]);
  });
});
