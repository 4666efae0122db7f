// /v1/ticket-fields over HTTP: create (types, options, limits, 409, idempotency), list, get, patch (fixed key and type), delete (the values go with it), roles and organizations.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { manualClock } from "../src/lib/clock";
import { createKey } from "../src/keys/service";
import { createUser } from "../src/orgs/service";
import { createTestEnv, type TestEnv } from "./helpers";

interface FieldJson {
  id: string;
  key: string;
  title: string;
  type: string;
  options: string[] | null;
  required: boolean;
  created_at: string;
  updated_at: string;
}
interface ErrorJson {
  error: string;
  message: string;
  details?: { field: string; message: string }[];
}
type Org = Awaited<ReturnType<TestEnv["org"]>>;

const clock = manualClock(Date.UTC(2026, 1, 25, 14, 30));
let env: TestEnv;
let a: Org;
let b: Org;
let memberKey: string;
let adminKey: string;

beforeAll(async () => {
  env = await createTestEnv({ clock });
  a = await env.org("Alpha");
  b = await env.org("Beta", "enterprise");
  const member = await createUser(env.deps, { orgId: a.orgId, email: "member@alpha.test", role: "member" });
  memberKey = (await createKey(env.deps, { orgId: a.orgId, userId: member.id })).key;
  const admin = await createUser(env.deps, { orgId: a.orgId, email: "admin@alpha.test", role: "admin" });
  adminKey = (await createKey(env.deps, { orgId: a.orgId, userId: admin.id })).key;
}, 60_000);
afterAll(() => env.close());

let seq = 0;
/** A key no other test uses. */
const freshKey = (base = "f") => `${base}_${++seq}`;

const post = (json: unknown, key = a.key, headers: Record<string, string> = {}) => env.request("/v1/ticket-fields", { method: "POST", key, json, headers });
const patch = (id: string, json: unknown, key = a.key) => env.request(`/v1/ticket-fields/${id}`, { method: "PATCH", key, json });
const del = (id: string, key = a.key) => env.request(`/v1/ticket-fields/${id}`, { method: "DELETE", key });
const get = (id: string, key = a.key) => env.request(`/v1/ticket-fields/${id}`, { key });

async function create(json: Record<string, unknown>, key = a.key): Promise<FieldJson> {
  const res = await post({ title: "A field", type: "text", ...json }, key);
  expect(res.status).toBe(201);
  return (await res.json()) as FieldJson;
}

/** A 400 validation_error naming exactly `fields`. */
async function expect400(res: Response, fields: string[]): Promise<ErrorJson> {
  expect(res.status).toBe(400);
  const body = (await res.json()) as ErrorJson;
  expect(body.error).toBe("validation_error");
  expect(body.details?.map((d) => d.field)).toEqual(fields);
  for (const d of body.details ?? []) expect(d.message.length).toBeGreaterThan(0);
  return body;
}

async function fieldRows(orgId: string) {
  return env.db.all("SELECT id, key, title, type, options, required, created_at, updated_at FROM ticket_fields WHERE org_id = ? ORDER BY id", orgId);
}

/** A ticket of the organization, created through the API with these custom field values. */
async function ticketWith(org: Org, values: Record<string, unknown>): Promise<string> {
  const res = await env.request("/v1/tickets", { method: "POST", key: org.key, json: { subject: "has values", custom_fields: values } });
  expect(res.status).toBe(201);
  const ticket = (await res.json()) as { id: string; custom_fields: Record<string, unknown> };
  expect(ticket.custom_fields).toEqual(values);
  return ticket.id;
}
const ticketRow = (id: string) => env.db.get<{ custom_fields: string; updated_at: number }>("SELECT custom_fields, updated_at FROM tickets WHERE id = ?", id);

describe("POST /v1/ticket-fields", () => {
  test("201 with the field and its Location; every type; required defaults to false; the title is trimmed", async () => {
    const key = freshKey("order_id");
    const res = await post({ key, title: "  Order  ", type: "text" });
    expect(res.status).toBe(201);
    const field = (await res.json()) as FieldJson;
    expect(Object.keys(field)).toEqual(["id", "key", "title", "type", "options", "required", "created_at", "updated_at"]);
    expect(field).toMatchObject({ key, title: "Order", type: "text", options: null, required: false });
    expect(field.id).toMatch(/^tfd_[0-9a-z]{16}$/);
    expect(field.created_at).toBe("2026-02-25T14:30:00Z");
    expect(field.updated_at).toBe(field.created_at);
    expect(res.headers.get("location")).toBe(`${env.config.publicUrl}/v1/ticket-fields/${field.id}`);
    expect(await (await get(field.id)).json()).toEqual(field);
    for (const type of ["number", "date", "checkbox"]) expect((await create({ key: freshKey(type), type, options: null })).type).toBe(type);
    const dropdown = await create({ key: freshKey("tier"), type: "dropdown", options: [" Gold ", "Silver", "Ünïcödé 🔥"], required: true });
    expect(dropdown).toMatchObject({ type: "dropdown", options: ["Gold", "Silver", "Ünïcödé 🔥"], required: true });
    expect((await create({ key: freshKey("k"), title: "x".repeat(100) })).title).toBe("x".repeat(100));
    expect((await create({ key: "k".repeat(64) })).key).toBe("k".repeat(64));
    expect((await create({ key: "0_9" })).key).toBe("0_9");
  });

  test("owner and admin keys may create; a member key gets 403 forbidden, whatever its body, and nothing is stored", async () => {
    expect((await create({ key: freshKey("by_admin") }, adminKey)).key).toStartWith("by_admin");
    const before = await fieldRows(a.orgId);
    for (const body of [{ key: freshKey("m"), title: "T", type: "text" }, { nonsense: true }]) {
      const res = await post(body, memberKey);
      expect(res.status).toBe(403);
      expect(await res.json()).toEqual({ error: "forbidden", message: "Only owner and admin keys can create, change or delete ticket fields." });
    }
    expect(await fieldRows(a.orgId)).toEqual(before);
  });

  test("401 without a valid key", async () => {
    expect((await post({ key: freshKey(), title: "T", type: "text" }, "cc_live_nope")).status).toBe(401);
    const res = await env.request("/v1/ticket-fields", { method: "POST", json: { key: freshKey(), title: "T", type: "text" } });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe("Bearer");
  });

  const badKeys: unknown[] = ["", "Order", "order-id", "order id", "ordér", "k".repeat(65), "a.b", 5, null];
  for (const key of badKeys) {
    test(`key ${JSON.stringify(key)?.slice(0, 20)} → 400 naming key`, async () => {
      await expect400(await post({ key, title: "T", type: "text" }), ["key"]);
    });
  }

  test("title: required, one line, 1–100 characters after trimming", async () => {
    for (const title of ["", "   ", "x".repeat(101), "two\nlines", "\u200B", 3])
      await expect400(await post({ key: freshKey(), title, type: "text" }), ["title"]);
    await expect400(await post({ key: freshKey(), type: "text" }), ["title"]);
  });

  test("type: one of the five", async () => {
    for (const type of ["string", "Text", "", null, 1]) await expect400(await post({ key: freshKey(), title: "T", type }), ["type"]);
  });

  test("options: 1–100 distinct one-line values for a dropdown; absent or null for the other types", async () => {
    const dd = (options: unknown) => post({ key: freshKey(), title: "T", type: "dropdown", ...(options === undefined ? {} : { options }) });
    await expect400(await dd(undefined), ["options"]);
    await expect400(await dd(null), ["options"]);
    await expect400(await dd([]), ["options"]);
    await expect400(await dd(Array.from({ length: 101 }, (_, i) => `o${i}`)), ["options"]);
    expect((await dd(Array.from({ length: 100 }, (_, i) => `o${i}`))).status).toBe(201);
    const dup = await expect400(await dd(["a", "b", " a "]), ["options.2"]);
    expect(dup.details![0]!.message).toContain("repeat");
    await expect400(await dd(["ok", ""]), ["options.1"]);
    await expect400(await dd(["ok", "x".repeat(101)]), ["options.1"]);
    await expect400(await dd(["ok", 7]), ["options"]);
    await expect400(await dd("a,b"), ["options"]);
    for (const type of ["text", "number", "date", "checkbox"]) {
      const body = await expect400(await post({ key: freshKey(), title: "T", type, options: ["a"] }), ["options"]);
      expect(body.details![0]!.message).toContain("only dropdowns");
    }
  });

  test("unknown fields and bodies that are not JSON objects are 400s", async () => {
    await expect400(await post({ key: freshKey(), title: "T", type: "text", default: "x" }), ["default"]);
    expect((await post([])).status).toBe(400);
    const res = await env.request("/v1/ticket-fields", { method: "POST", key: a.key, body: "{", headers: { "content-type": "application/json" } });
    await expect400(res, ["body"]);
  });

  test("a key the organization already uses → 409 conflict, nothing stored; another organization may use it", async () => {
    const key = freshKey("dup");
    await create({ key });
    const before = await fieldRows(a.orgId);
    const res = await post({ key, title: "Again", type: "number" });
    expect(res.status).toBe(409);
    expect(await res.json()).toEqual({ error: "conflict", message: `A ticket field with the key "${key}" already exists.` });
    expect(await fieldRows(a.orgId)).toEqual(before);
    expect((await create({ key }, b.key)).key).toBe(key);
  });

  test("concurrent creates of one key: exactly one 201, every other a 409, never a 500", async () => {
    const key = freshKey("race");
    const responses = await Promise.all(Array.from({ length: 8 }, (_, i) => post({ key, title: `T${i}`, type: "text" })));
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses).toEqual([201, 409, 409, 409, 409, 409, 409, 409]);
    expect(await env.db.all("SELECT id FROM ticket_fields WHERE org_id = ? AND key = ?", a.orgId, key)).toHaveLength(1);
  });

  test("Idempotency-Key: a retry gets the same 201, Location and body, marked replayed; one field stored", async () => {
    const key = freshKey("idem");
    const first = await post({ key, title: "Once", type: "checkbox" }, a.key, { "idempotency-key": `idem-${key}` });
    expect(first.status).toBe(201);
    const again = await post({ key, title: "Once", type: "checkbox" }, a.key, { "idempotency-key": `idem-${key}` });
    expect(again.status).toBe(201);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.headers.get("location")).toBe(first.headers.get("location"));
    expect(await again.json()).toEqual(await first.json());
    expect(await env.db.all("SELECT id FROM ticket_fields WHERE org_id = ? AND key = ?", a.orgId, key)).toHaveLength(1);
  });
});

describe("at most 50 fields per organization", () => {
  test("the 51st is a 400 on key; deleting one makes room; concurrent creates past the limit: exactly one lands", async () => {
    const org = await env.org("Fifty");
    const made: FieldJson[] = [];
    for (let i = 0; i < 49; i++) made.push(await create({ key: `k${i}` }, org.key));
    const racing = await Promise.all(Array.from({ length: 6 }, (_, i) => post({ key: `race${i}`, title: "T", type: "text" }, org.key)));
    expect(racing.map((r) => r.status).sort()).toEqual([201, 400, 400, 400, 400, 400]);
    const res = await post({ key: "k50", title: "T", type: "text" }, org.key);
    expect(await res.json()).toEqual({
      error: "validation_error",
      message: "The request is not valid: key an organization has at most 50 ticket fields",
      details: [{ field: "key", message: "an organization has at most 50 ticket fields" }],
    });
    expect(await env.db.all("SELECT id FROM ticket_fields WHERE org_id = ?", org.orgId)).toHaveLength(50);
    expect((await del(made[0]!.id, org.key)).status).toBe(204);
    expect((await post({ key: "k50", title: "T", type: "text" }, org.key)).status).toBe(201);
    // Another organization's count is its own.
    expect((await post({ key: "k50", title: "T", type: "text" }, b.key)).status).toBe(201);
  }, 60_000);
});

describe("GET /v1/ticket-fields", () => {
  test("oldest first (the order a form shows them), page/per_page, exact meta.total, Link to the next page; any key of the organization may read", async () => {
    const org = await env.org("Lister");
    const made: FieldJson[] = [];
    for (let i = 0; i < 5; i++) {
      made.push(await create({ key: `z${5 - i}` }, org.key));
      clock.advance(1000);
    }
    const all = await env.request("/v1/ticket-fields", { key: org.key });
    expect(all.status).toBe(200);
    expect(all.headers.get("link")).toBeNull();
    expect(await all.json()).toEqual({ data: made, meta: { page: 1, per_page: 25, total: 5 } });
    const p1 = await env.request("/v1/ticket-fields?per_page=2", { key: org.key });
    expect(p1.headers.get("link")).toBe(`<${env.config.publicUrl}/v1/ticket-fields?per_page=2&page=2>; rel="next"`);
    expect(((await p1.json()) as { data: FieldJson[] }).data).toEqual(made.slice(0, 2));
    const p3 = await env.request("/v1/ticket-fields?per_page=2&page=3", { key: org.key });
    expect(p3.headers.get("link")).toBeNull();
    expect(await p3.json()).toEqual({ data: made.slice(4), meta: { page: 3, per_page: 2, total: 5 } });
    expect(await (await env.request("/v1/ticket-fields?page=9", { key: org.key })).json()).toEqual({ data: [], meta: { page: 9, per_page: 25, total: 5 } });
    // Another organization sees only its own.
    const theirs = (await (await env.request("/v1/ticket-fields?per_page=100", { key: b.key })).json()) as { data: FieldJson[] };
    expect(theirs.data.some((f) => made.some((m) => m.id === f.id))).toBe(false);
  });

  test("a member key reads the list and each field", async () => {
    const field = await create({ key: freshKey("readable") });
    expect((await env.request("/v1/ticket-fields", { key: memberKey })).status).toBe(200);
    const res = await get(field.id, memberKey);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(field);
  });

  test("bad paging is a 400 naming the parameter; 401 without a key", async () => {
    await expect400(await env.request("/v1/ticket-fields?per_page=101", { key: a.key }), ["per_page"]);
    await expect400(await env.request("/v1/ticket-fields?page=0", { key: a.key }), ["page"]);
    await expect400(await env.request("/v1/ticket-fields?page=x", { key: a.key }), ["page"]);
    expect((await env.request("/v1/ticket-fields")).status).toBe(401);
  });
});

describe("GET /v1/ticket-fields/:id", () => {
  test("404 for an unknown id and for another organization's field, with the same body", async () => {
    const field = await create({ key: freshKey() });
    const unknown = await get("tfd_0000000000000000");
    expect(unknown.status).toBe(404);
    const unknownBody = await unknown.json();
    expect(unknownBody).toEqual({ error: "not_found", message: "Ticket field was not found." });
    const foreign = await get(field.id, b.key);
    expect(foreign.status).toBe(404);
    expect(await foreign.json()).toEqual(unknownBody);
    expect((await get(encodeURIComponent("tfd_\0"))).status).toBe(404);
    expect((await get(field.id, "cc_live_nope")).status).toBe(401);
  });
});

describe("PATCH /v1/ticket-fields/:id", () => {
  test("title, options and required change; updated_at moves; created_at, key and type stay", async () => {
    const field = await create({ key: freshKey("tier"), type: "dropdown", options: ["a", "b"] });
    clock.advance(60_000);
    const res = await patch(field.id, { title: "  Tier  ", options: ["b", "c", "a"], required: true });
    expect(res.status).toBe(200);
    const after = (await res.json()) as FieldJson;
    const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
    expect(after).toEqual({ ...field, title: "Tier", options: ["b", "c", "a"], required: true, updated_at: iso(clock.now()) });
    expect(after.updated_at).not.toBe(field.updated_at);
    expect(await (await get(field.id)).json()).toEqual(after);
    clock.advance(1000);
    const off = (await (await patch(field.id, { required: false }, adminKey)).json()) as FieldJson;
    expect(off).toEqual({ ...after, required: false, updated_at: iso(clock.now()) });
  });

  test("a change to nothing new is a 200 with the field as it was (updated_at unchanged)", async () => {
    const field = await create({ key: freshKey(), title: "Same" });
    clock.advance(5000);
    expect(await (await patch(field.id, { title: "Same", required: false })).json()).toEqual(field);
    expect(await (await patch(field.id, { options: null })).json()).toEqual(field);
  });

  test("key or type in the body → 400 naming it: they cannot be changed; nothing changes", async () => {
    const field = await create({ key: freshKey() });
    for (const [body, name] of [
      [{ key: "other" }, "key"],
      [{ type: "number" }, "type"],
      [{ title: "New", key: field.key }, "key"],
      [{ type: "text", title: "New" }, "type"],
    ] as const) {
      const err = await expect400(await patch(field.id, body), [name]);
      expect(err.details![0]!.message).toContain("cannot be changed");
      expect(err.message).toContain("cannot be changed");
    }
    expect(await (await get(field.id)).json()).toEqual(field);
  });

  test("options only for dropdowns, by the same rules as on create", async () => {
    const text = await create({ key: freshKey() });
    await expect400(await patch(text.id, { options: ["a"] }), ["options"]);
    const dd = await create({ key: freshKey(), type: "dropdown", options: ["a"] });
    await expect400(await patch(dd.id, { options: null }), ["options"]);
    await expect400(await patch(dd.id, { options: [] }), ["options"]);
    await expect400(await patch(dd.id, { options: ["a", "a"] }), ["options.1"]);
    expect(await (await get(dd.id)).json()).toEqual(dd);
  });

  test("bad bodies: empty, unknown fields, bad title", async () => {
    const field = await create({ key: freshKey() });
    await expect400(await patch(field.id, {}), ["body"]);
    await expect400(await patch(field.id, { colour: "red" }), ["colour"]);
    await expect400(await patch(field.id, { title: "" }), ["title"]);
    await expect400(await patch(field.id, { required: "yes" }), ["required"]);
  });

  test("removing an option that tickets hold is allowed: their values stay until changed", async () => {
    const org = await env.org("Options");
    const field = await create({ key: "plan", type: "dropdown", options: ["free", "pro"] }, org.key);
    const ticket = await ticketWith(org, { plan: "free" });
    expect((await patch(field.id, { options: ["pro"] }, org.key)).status).toBe(200);
    expect((await ticketRow(ticket))?.custom_fields).toBe('{"plan":"free"}');
    const read = await env.request(`/v1/tickets/${ticket}`, { key: org.key });
    expect(((await read.json()) as { custom_fields: unknown }).custom_fields).toEqual({ plan: "free" });
    // A new value must be one of the options as they are now.
    const res = await env.request(`/v1/tickets/${ticket}`, { method: "PATCH", key: org.key, json: { custom_fields: { plan: "free" } } });
    await expect400(res, ["custom_fields.plan"]);
  });

  test("a member key gets 403 whatever its body; another organization's key and an unknown id get 404; nothing changes", async () => {
    const field = await create({ key: freshKey() });
    for (const body of [{ title: "By member" }, { key: "x" }, {}]) expect((await patch(field.id, body, memberKey)).status).toBe(403);
    const foreign = await patch(field.id, { title: "By B" }, b.key);
    expect(foreign.status).toBe(404);
    expect(await foreign.json()).toEqual({ error: "not_found", message: "Ticket field was not found." });
    expect((await patch("tfd_0000000000000000", { title: "x" })).status).toBe(404);
    expect((await patch(field.id, { title: "x" }, "cc_live_nope")).status).toBe(401);
    expect(await (await get(field.id)).json()).toEqual(field);
  });
});

describe("DELETE /v1/ticket-fields/:id", () => {
  test("204; the values go with it, from this organization's tickets only; no ticket event; tickets' updated_at stays", async () => {
    const org = await env.org("Deleter");
    const other = await env.org("Other");
    const field = await create({ key: "order_id" }, org.key);
    await create({ key: "amount", type: "number" }, org.key);
    const t1 = await ticketWith(org, { order_id: "A-1", amount: 1.5 });
    const t2 = await ticketWith(org, { order_id: "B-2" });
    const t3 = await ticketWith(org, { amount: 2 });
    await create({ key: "order_id" }, other.key);
    const foreign = await ticketWith(other, { order_id: "C-3" });
    const before = await Promise.all([t1, t2, t3].map(ticketRow));
    expect(before.map((r) => r?.custom_fields)).toEqual(['{"amount":1.5,"order_id":"A-1"}', '{"order_id":"B-2"}', '{"amount":2}']);
    const events = await env.db.all("SELECT id FROM events WHERE org_id = ? ORDER BY seq", org.orgId);
    clock.advance(60_000);
    const res = await del(field.id, org.key);
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");
    expect((await get(field.id, org.key)).status).toBe(404);
    expect(await ticketRow(t1)).toEqual({ custom_fields: '{"amount":1.5}', updated_at: before[0]!.updated_at });
    expect(await ticketRow(t2)).toEqual({ custom_fields: "{}", updated_at: before[1]!.updated_at });
    expect(await ticketRow(t3)).toEqual(before[2]!);
    expect((await ticketRow(foreign))?.custom_fields).toBe('{"order_id":"C-3"}');
    expect(await env.db.all("SELECT id FROM events WHERE org_id = ? ORDER BY seq", org.orgId)).toEqual(events);
    const read = await env.request(`/v1/tickets/${t2}`, { key: org.key });
    expect(((await read.json()) as { custom_fields: unknown }).custom_fields).toEqual({});
    // The key is unknown now; a second delete finds nothing; the key is free again.
    const refused = await env.request("/v1/tickets", { method: "POST", key: org.key, json: { subject: "s", custom_fields: { order_id: "x" } } });
    await expect400(refused, ["custom_fields.order_id"]);
    expect((await del(field.id, org.key)).status).toBe(404);
    expect((await create({ key: "order_id", type: "date" }, org.key)).type).toBe("date");
  });

  test("a member key gets 403; another organization's key and an unknown id get 404; nothing changes", async () => {
    const org = await env.org("Guarded");
    const member = await createUser(env.deps, { orgId: org.orgId, email: "member@guarded.test", role: "member" });
    const orgMemberKey = (await createKey(env.deps, { orgId: org.orgId, userId: member.id })).key;
    const field = await create({ key: "kept" }, org.key);
    const ticket = await ticketWith(org, { kept: "stays" });
    const res = await del(field.id, orgMemberKey);
    expect(res.status).toBe(403);
    expect(((await res.json()) as ErrorJson).error).toBe("forbidden");
    const foreign = await del(field.id, b.key);
    expect(foreign.status).toBe(404);
    expect(await foreign.json()).toEqual({ error: "not_found", message: "Ticket field was not found." });
    expect((await del("tfd_0000000000000000", org.key)).status).toBe(404);
    expect((await del(field.id, "cc_live_nope")).status).toBe(401);
    expect(await (await get(field.id, org.key)).json()).toEqual(field);
    expect((await ticketRow(ticket))?.custom_fields).toBe('{"kept":"stays"}');
    expect((await del(field.id, org.key)).status).toBe(204);
  });
});
