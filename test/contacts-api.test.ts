// Contacts over HTTP: create (validation, case-insensitive uniqueness, idempotency), list (order, q, email, deleted, pages, keyset), get, patch, delete (erasure), their events, and organization isolation.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { manualClock } from "../src/lib/clock";
import { createTestEnv, type TestEnv } from "./helpers";

interface ContactJson {
  id: string;
  email: string | null;
  name: string | null;
  phone: string | null;
  external_id: string | null;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
}
interface Page {
  data: ContactJson[];
  meta: { page: number; per_page: number; total: number };
}
interface ErrorJson {
  error: string;
  message: string;
  details?: { field: string; message: string }[];
}
interface EventRow {
  seq: number;
  org_id: string;
  type: string;
  data: string;
  changed_fields: string | null;
}
type Org = Awaited<ReturnType<TestEnv["org"]>>;

const FIELDS = ["created_at", "deleted_at", "email", "external_id", "id", "name", "phone", "updated_at"];

const clock = manualClock(Date.UTC(2026, 2, 1, 9, 0, 0));
let env: TestEnv;
let a: Org;
let b: Org;
beforeAll(async () => {
  env = await createTestEnv({ clock });
  a = await env.org("Alpha");
  b = await env.org("Beta");
});
afterAll(() => env.close());

async function create(key: string, json: Record<string, unknown>): Promise<ContactJson> {
  clock.advance(1000);
  const res = await env.request("/v1/contacts", { method: "POST", key, json });
  if (res.status !== 201) throw new Error(`create: ${res.status} ${await res.text()}`);
  return (await res.json()) as ContactJson;
}
const unique = () => crypto.randomUUID().slice(0, 8);
async function lastSeq(): Promise<number> {
  return ((await env.db.get<{ seq: number | null }>("SELECT MAX(seq) AS seq FROM events"))?.seq ?? 0) as number;
}
async function eventsAfter(seq: number): Promise<EventRow[]> {
  return env.db.all<EventRow>("SELECT seq, org_id, type, data, changed_fields FROM events WHERE seq > ? ORDER BY seq", seq);
}
async function row(id: string) {
  return env.db.get("SELECT * FROM contacts WHERE id = ?", id);
}
async function contactCount(orgId: string): Promise<number> {
  return Number((await env.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM contacts WHERE org_id = ?", orgId))!.n);
}
function expectError(body: unknown, error: string, fields?: string[]): void {
  const e = body as ErrorJson;
  expect(e.error).toBe(error);
  expect(typeof e.message).toBe("string");
  expect(Object.keys(e).sort()).toEqual(fields ? ["details", "error", "message"] : ["error", "message"]);
  if (fields) expect(e.details!.map((d) => d.field)).toEqual(fields);
}

describe("POST /v1/contacts", () => {
  test("201 with the contact, its Location, the stored keys, and one contact.created event with the same data", async () => {
    const seq = await lastSeq();
    clock.advance(1000);
    const res = await env.request("/v1/contacts", {
      method: "POST",
      key: a.key,
      json: { email: "  Ada.Lovelace@Example.COM ", name: " Ada Lovelace ", phone: "+44 20 7946 0958", external_id: "crm-1" },
    });
    expect(res.status).toBe(201);
    const c = (await res.json()) as ContactJson;
    expect(Object.keys(c).sort()).toEqual(FIELDS);
    expect(c.id).toMatch(/^con_[0-9a-z]{16}$/);
    expect(c).toMatchObject({ email: "Ada.Lovelace@Example.COM", name: "Ada Lovelace", phone: "+44 20 7946 0958", external_id: "crm-1", deleted_at: null });
    expect(c.created_at).toBe(new Date(clock.now()).toISOString().slice(0, 19) + "Z");
    expect(c.updated_at).toBe(c.created_at);
    expect(res.headers.get("location")).toBe(`${env.config.publicUrl}/v1/contacts/${c.id}`);
    expect(await row(c.id)).toMatchObject({ org_id: a.orgId, email_key: "ada.lovelace@example.com", name_key: "ada lovelace" });
    const events = await eventsAfter(seq);
    expect(events.map((e) => [e.type, e.org_id, e.changed_fields])).toEqual([["contact.created", a.orgId, null]]);
    expect(JSON.parse(events[0]!.data)).toEqual(c);
  });

  test("only email is required; the others default to null", async () => {
    const c = await create(a.key, { email: `solo-${unique()}@example.test` });
    expect(c).toMatchObject({ name: null, phone: null, external_id: null });
    const nulls = await create(a.key, { email: `nulls-${unique()}@example.test`, name: null, phone: null, external_id: null });
    expect(nulls).toMatchObject({ name: null, phone: null, external_id: null });
  });

  test("emails are unique per organization ignoring case (409 conflict naming email), free in another organization", async () => {
    const email = `Dup-${unique()}@Example.test`;
    const first = await create(a.key, { email });
    const before = await contactCount(a.orgId);
    const seq = await lastSeq();
    for (const again of [email, email.toUpperCase(), ` ${email.toLowerCase()} `]) {
      const res = await env.request("/v1/contacts", { method: "POST", key: a.key, json: { email: again } });
      expect(res.status).toBe(409);
      expect(await res.json()).toEqual({ error: "conflict", message: "Another contact already has this email." });
    }
    expect(await contactCount(a.orgId)).toBe(before);
    expect(await eventsAfter(seq)).toEqual([]);
    const theirs = await create(b.key, { email });
    expect(theirs.id).not.toBe(first.id);
  });

  test("external_id is unique per organization (409 conflict naming external_id), compared exactly", async () => {
    const ext = `ext-${unique()}`;
    await create(a.key, { email: `e1-${unique()}@example.test`, external_id: ext });
    const res = await env.request("/v1/contacts", { method: "POST", key: a.key, json: { email: `e2-${unique()}@example.test`, external_id: ` ${ext} ` } });
    expect(res.status).toBe(409);
    expect(await res.json()).toEqual({ error: "conflict", message: "Another contact already has this external_id." });
    await create(a.key, { email: `e3-${unique()}@example.test`, external_id: ext.toUpperCase() });
    await create(b.key, { email: `e4-${unique()}@example.test`, external_id: ext });
  });

  const badBodies: [string, unknown, string][] = [
    ["no email", { name: "x" }, "email"],
    ["email null", { email: null }, "email"],
    ["email not a string", { email: 42 }, "email"],
    ["email without @", { email: "ada.example.test" }, "email"],
    ["email with two @", { email: "ada@b@example.test" }, "email"],
    ["email starting with @", { email: "@example.test" }, "email"],
    ["email ending with @", { email: "ada@" }, "email"],
    ["email with a space", { email: "ada lovelace@example.test" }, "email"],
    ["email with a no-break space", { email: "ada\u00a0l@example.test" }, "email"],
    ["email too short", { email: "a@" }, "email"],
    ["email of 255 characters", { email: `${"a".repeat(243)}@example.test` }, "email"],
    ["email with a control character", { email: "ada\u0007@example.test" }, "email"],
    ["email blank", { email: "   " }, "email"],
    ["name of 201 characters", { email: "n@example.test", name: "n".repeat(201) }, "name"],
    ["name on two lines", { email: "n@example.test", name: "Ada\nLovelace" }, "name"],
    ["name blank", { email: "n@example.test", name: "  " }, "name"],
    ["phone of 51 characters", { email: "p@example.test", phone: "1".repeat(51) }, "phone"],
    ["phone with a tab", { email: "p@example.test", phone: "1\t2" }, "phone"],
    ["external_id of 256 characters", { email: "x@example.test", external_id: "x".repeat(256) }, "external_id"],
    ["external_id a number", { email: "x@example.test", external_id: 7 }, "external_id"],
  ];
  for (const [label, json, field] of badBodies) {
    test(`${label} → 400 validation_error naming ${field}, nothing created`, async () => {
      const before = await contactCount(a.orgId);
      const seq = await lastSeq();
      const res = await env.request("/v1/contacts", { method: "POST", key: a.key, json });
      expect(res.status).toBe(400);
      expectError(await res.json(), "validation_error", [field]);
      expect(await contactCount(a.orgId)).toBe(before);
      expect(await eventsAfter(seq)).toEqual([]);
    });
  }

  test("limits hold exactly: a 254-character email, a 200-character name, 50-character phone, 255-character external_id (emoji count as one)", async () => {
    const local = "l".repeat(254 - "@example.test".length - 8);
    const c = await create(a.key, {
      email: `${local}${unique()}@example.test`,
      name: "😀".repeat(200),
      phone: "9".repeat(50),
      external_id: `${"x".repeat(247)}${unique()}`,
    });
    expect(c.email!.length).toBe(254);
    expect([...c.name!].length).toBe(200);
  });

  test("an unknown field, a body that is not JSON, or no body → 400; another content type → 415", async () => {
    const unknown = await env.request("/v1/contacts", { method: "POST", key: a.key, json: { email: "u@example.test", company: "x" } });
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as ErrorJson).error).toBe("validation_error");
    const broken = await env.request("/v1/contacts", { method: "POST", key: a.key, body: "{", headers: { "content-type": "application/json" } });
    expect(broken.status).toBe(400);
    const empty = await env.request("/v1/contacts", { method: "POST", key: a.key, headers: { "content-type": "application/json" } });
    expect(empty.status).toBe(400);
    const text = await env.request("/v1/contacts", { method: "POST", key: a.key, body: "email=x", headers: { "content-type": "text/plain" } });
    expect(text.status).toBe(415);
    expectError(await text.json(), "unsupported_media_type");
  });

  test("concurrent creates of one email: exactly one 201, the rest 409, one row and one event", async () => {
    const email = `race-${unique()}@example.test`;
    const seq = await lastSeq();
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        env.request("/v1/contacts", { method: "POST", key: a.key, json: { email: i % 2 ? email.toUpperCase() : email } }).then((r) => r.status),
      ),
    );
    expect(answers.filter((s) => s === 201).length).toBe(1);
    expect(answers.filter((s) => s === 409).length).toBe(7);
    expect(await env.db.all("SELECT id FROM contacts WHERE org_id = ? AND email_key = ?", a.orgId, email)).toHaveLength(1);
    expect((await eventsAfter(seq)).filter((e) => e.type === "contact.created")).toHaveLength(1);
  });

  test("Idempotency-Key: the retry replays the 201 (same body and Location), nothing created twice", async () => {
    const json = { email: `idem-${unique()}@example.test`, name: "Once" };
    const headers = { "idempotency-key": `contact-${unique()}` };
    const first = await env.request("/v1/contacts", { method: "POST", key: a.key, json, headers });
    expect(first.status).toBe(201);
    const body = await first.json();
    const seq = await lastSeq();
    const count = await contactCount(a.orgId);
    const again = await env.request("/v1/contacts", { method: "POST", key: a.key, json, headers });
    expect(again.status).toBe(201);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.headers.get("location")).toBe(first.headers.get("location"));
    expect(await again.json()).toEqual(body);
    expect(await contactCount(a.orgId)).toBe(count);
    expect(await eventsAfter(seq)).toEqual([]);
    // The same key with another body is refused, and creates nothing.
    const other = await env.request("/v1/contacts", { method: "POST", key: a.key, json: { email: `other-${unique()}@example.test` }, headers });
    expect(other.status).toBe(422);
    expectError(await other.json(), "idempotency_key_reused");
    expect(await contactCount(a.orgId)).toBe(count);
  });
});

describe("GET /v1/contacts/{id}", () => {
  test("the contact; another organization's or an unknown id is the same 404", async () => {
    const c = await create(a.key, { email: `get-${unique()}@example.test`, name: "Getter" });
    const res = await env.request(`/v1/contacts/${c.id}`, { key: a.key });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(c);
    for (const [key, id] of [
      [b.key, c.id],
      [a.key, "con_0000000000000000"],
      [a.key, "con_%00"],
      [a.key, "not-an-id"],
    ] as const) {
      const miss = await env.request(`/v1/contacts/${id}`, { key });
      expect(miss.status).toBe(404);
      expect(await miss.json()).toEqual({ error: "not_found", message: "Contact was not found." });
    }
  });
});

describe("GET /v1/contacts", () => {
  const lclock = manualClock(Date.UTC(2026, 5, 1));
  let lenv: TestEnv;
  let x: Org;
  let y: Org;
  const made: ContactJson[] = [];
  const add = async (org: Org, json: Record<string, unknown>) => {
    lclock.advance(1000);
    const res = await lenv.request("/v1/contacts", { method: "POST", key: org.key, json });
    expect(res.status).toBe(201);
    return (await res.json()) as ContactJson;
  };
  const get = async (key: string, query: string) => {
    const res = await lenv.request(`/v1/contacts${query}`, { key });
    return { res, body: (await res.json()) as Page };
  };
  const emails = (p: Page) => p.data.map((c) => c.email);
  beforeAll(async () => {
    lenv = await createTestEnv({ clock: lclock });
    x = await lenv.org("X");
    y = await lenv.org("Y");
    for (const [email, name] of [
      ["ada@example.test", "Ada Lovelace"],
      ["adam@example.test", "Adam Smith"],
      ["grace@navy.test", "Adalind Hopper"],
      ["Zoë@Example.test", "Ünal Émile"],
      ["100%_off@shop.test", null],
      ["linus@example.test", "Linus"],
    ] as const) {
      made.push(await add(x, { email, name }));
    }
    await add(y, { email: "ada@example.test", name: "Ada Y" });
  });
  afterAll(() => lenv.close());

  test("newest first, meta with the exact total, no Link on the last page", async () => {
    const { res, body } = await get(x.key, "");
    expect(res.status).toBe(200);
    expect(body.data.map((c) => c.id)).toEqual(made.map((c) => c.id).reverse());
    expect(body.meta).toEqual({ page: 1, per_page: 25, total: 6 });
    expect(res.headers.get("link")).toBeNull();
    expect(body.data[0]).toEqual(made[5]!);
  });

  test("q: a prefix of the email or the name, case-insensitive, literal; email: exactly one, case-insensitive", async () => {
    const cases: [string, (string | null)[]][] = [
      ["q=ad", ["grace@navy.test", "adam@example.test", "ada@example.test"]],
      ["q=ADA", ["grace@navy.test", "adam@example.test", "ada@example.test"]],
      ["q=adam", ["adam@example.test"]],
      ["q=ada%20love", ["ada@example.test"]],
      ["q=%C3%BCnal", ["Zoë@Example.test"]],
      ["q=zo%C3%AB%40", ["Zoë@Example.test"]],
      ["q=100%25_", ["100%_off@shop.test"]],
      ["q=1%25", []],
      ["q=_", []],
      ["q=%25", []],
      ["q=lovelace", []],
      ["q=", emails({ data: [...made].reverse() } as Page)],
      ["q=%20%20", emails({ data: [...made].reverse() } as Page)],
      ["email=ADA@example.test", ["ada@example.test"]],
      ["email=zo%C3%AB@example.test", ["Zoë@Example.test"]],
      ["email=ada@example", []],
      ["email=%00", []],
    ];
    for (const [query, want] of cases) {
      const { res, body } = await get(x.key, `?${query}`);
      expect(res.status, query).toBe(200);
      expect(emails(body), query).toEqual(want);
      expect(body.meta.total, query).toBe(want.length);
    }
    // Organization B's contact of the same email is never found by A, and the other way round.
    expect(emails((await get(y.key, "?q=ada")).body)).toEqual(["ada@example.test"]);
    expect((await get(y.key, "?q=grace")).body.meta.total).toBe(0);
  });

  test("a q with a control character or over 254 characters → 400 naming q", async () => {
    for (const q of ["a%07", "a%00", "x".repeat(255)]) {
      const { res, body } = await get(x.key, `?q=${q}`);
      expect(res.status).toBe(400);
      expectError(body, "validation_error", ["q"]);
    }
  });

  test("pages: page/per_page with a Link to the next page carrying the filters; walking them gives every contact once", async () => {
    const seen: string[] = [];
    let url: string | null = "/v1/contacts?q=ad&per_page=1";
    const links: string[] = [];
    while (url) {
      const res = await lenv.request(url, { key: x.key });
      const body = (await res.json()) as Page;
      expect(body.meta.total).toBe(3);
      seen.push(...body.data.map((c) => c.email!));
      const link = res.headers.get("link");
      url = link ? new URL(/^<([^>]+)>; rel="next"$/.exec(link)![1]!).pathname + new URL(/^<([^>]+)>/.exec(link)![1]!).search : null;
      if (link) links.push(link);
    }
    expect(seen).toEqual(["grace@navy.test", "adam@example.test", "ada@example.test"]);
    expect(links[0]).toBe(`<${lenv.config.publicUrl}/v1/contacts?q=ad&per_page=1&page=2>; rel="next"`);
    const past = await get(x.key, "?page=9&per_page=5");
    expect(past.body).toEqual({ data: [], meta: { page: 9, per_page: 5, total: 6 } });
  });

  test("starting_after: the contacts after that one (keyset), Link in the same mode; foreign or unknown cursor, or with page>1 → 400", async () => {
    const first = await get(x.key, "?per_page=2");
    const cursor = first.body.data[1]!.id;
    const next = await get(x.key, `?per_page=2&starting_after=${cursor}`);
    expect(next.res.status).toBe(200);
    expect(next.body.data.map((c) => c.id)).toEqual([made[3]!.id, made[2]!.id]);
    expect(next.body.meta).toEqual({ page: 1, per_page: 2, total: 6 });
    expect(next.res.headers.get("link")).toBe(`<${lenv.config.publicUrl}/v1/contacts?per_page=2&starting_after=${made[2]!.id}>; rel="next"`);
    const last = await get(x.key, `?per_page=2&starting_after=${made[1]!.id}`);
    expect(last.body.data.map((c) => c.id)).toEqual([made[0]!.id]);
    expect(last.res.headers.get("link")).toBeNull();
    const theirs = (await get(y.key, "")).body.data[0]!.id;
    for (const q of [`starting_after=${theirs}`, "starting_after=con_0000000000000000", `starting_after=${cursor}&page=2`]) {
      const bad = await get(x.key, `?${q}`);
      expect(bad.res.status, q).toBe(400);
      expectError(bad.body, "validation_error", ["starting_after"]);
    }
  });

  test("per_page and page out of range → 400 naming them", async () => {
    for (const [q, field] of [
      ["per_page=0", "per_page"],
      ["per_page=101", "per_page"],
      ["page=0", "page"],
      ["page=abc", "page"],
    ] as const) {
      const { res, body } = await get(x.key, `?${q}`);
      expect(res.status, q).toBe(400);
      expectError(body, "validation_error", [field]);
    }
  });

  test("deleted contacts: left out of the list, q and email; listed with include_deleted=true; still a cursor", async () => {
    const gone = await add(x, { email: "gone@example.test", name: "Gone Person" });
    expect((await lenv.request(`/v1/contacts/${gone.id}`, { method: "DELETE", key: x.key })).status).toBe(204);
    const live = await get(x.key, "?per_page=100");
    expect(live.body.data.map((c) => c.id)).not.toContain(gone.id);
    expect(live.body.meta.total).toBe(6);
    const all = await get(x.key, "?per_page=100&include_deleted=true");
    expect(all.body.meta.total).toBe(7);
    expect(all.body.data[0]).toMatchObject({ id: gone.id, email: null, name: null });
    expect(all.body.data[0]!.deleted_at).not.toBeNull();
    expect((await get(x.key, "?q=gone")).body.meta.total).toBe(0);
    expect((await get(x.key, "?email=gone@example.test")).body.meta.total).toBe(0);
    const after = await get(x.key, `?starting_after=${gone.id}&per_page=100`);
    expect(after.body.data.map((c) => c.id)).toEqual(made.map((c) => c.id).reverse());
    const link = await get(x.key, "?include_deleted=true&per_page=1");
    expect(link.res.headers.get("link")).toBe(`<${lenv.config.publicUrl}/v1/contacts?include_deleted=true&per_page=1&page=2>; rel="next"`);
  });
});

describe("PATCH /v1/contacts/{id}", () => {
  let c: ContactJson;
  beforeEach(async () => {
    c = await create(a.key, { email: `patch-${unique()}@example.test`, name: "Before", phone: "1", external_id: `p-${unique()}` });
  });
  const patch = (id: string, json: unknown, key = a.key) => env.request(`/v1/contacts/${id}`, { method: "PATCH", key, json });

  test("changes the given fields, trims, keeps the others; updated_at moves; one contact.updated naming what changed", async () => {
    const seq = await lastSeq();
    clock.advance(5000);
    const res = await patch(c.id, { name: "  After ", phone: null });
    expect(res.status).toBe(200);
    const after = (await res.json()) as ContactJson;
    expect(after).toEqual({ ...c, name: "After", phone: null, updated_at: new Date(clock.now()).toISOString().slice(0, 19) + "Z" });
    expect(await row(c.id)).toMatchObject({ name_key: "after", phone: null });
    const events = await eventsAfter(seq);
    expect(events.map((e) => e.type)).toEqual(["contact.updated"]);
    expect(JSON.parse(events[0]!.data)).toEqual(after);
    expect(JSON.parse(events[0]!.changed_fields!)).toEqual(["name", "phone"]);
    expect((await (await env.request(`/v1/contacts/${c.id}`, { key: a.key })).json()) as ContactJson).toEqual(after);
  });

  test("email: a new one updates email_key; a case change alone is a change of email; null is a 400", async () => {
    const email = `New-${unique()}@Example.test`;
    const res = await patch(c.id, { email });
    expect(res.status).toBe(200);
    expect(await row(c.id)).toMatchObject({ email, email_key: email.toLowerCase() });
    const seq = await lastSeq();
    const upper = await patch(c.id, { email: email.toUpperCase() });
    expect(((await upper.json()) as ContactJson).email).toBe(email.toUpperCase());
    expect(JSON.parse((await eventsAfter(seq))[0]!.changed_fields!)).toEqual(["email"]);
    const cleared = await patch(c.id, { email: null });
    expect(cleared.status).toBe(400);
    expectError(await cleared.json(), "validation_error", ["email"]);
  });

  test("the same values again: 200 with the contact unchanged, no event", async () => {
    const seq = await lastSeq();
    clock.advance(1000);
    const res = await patch(c.id, { name: c.name, email: ` ${c.email} `, external_id: c.external_id });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(c);
    expect(await eventsAfter(seq)).toEqual([]);
  });

  test("clearing external_id and name with null", async () => {
    const res = await patch(c.id, { external_id: null, name: null });
    expect(((await res.json()) as ContactJson) ?? null).toMatchObject({ external_id: null, name: null });
    expect(await row(c.id)).toMatchObject({ external_id: null, name: null, name_key: null });
  });

  test("an email or external_id another contact has → 409 conflict, nothing changed", async () => {
    const other = await create(a.key, { email: `other-${unique()}@example.test`, external_id: `o-${unique()}` });
    const before = await row(c.id);
    const seq = await lastSeq();
    const e = await patch(c.id, { email: other.email!.toUpperCase() });
    expect(e.status).toBe(409);
    expect(await e.json()).toEqual({ error: "conflict", message: "Another contact already has this email." });
    const x = await patch(c.id, { external_id: other.external_id, name: "Changed too" });
    expect(x.status).toBe(409);
    expect(await x.json()).toEqual({ error: "conflict", message: "Another contact already has this external_id." });
    expect(await row(c.id)).toEqual(before);
    expect(await eventsAfter(seq)).toEqual([]);
  });

  test("an empty body, an unknown field, or bad values → 400, nothing changed", async () => {
    const before = await row(c.id);
    for (const [json, fields] of [
      [{}, undefined],
      [{ company: "x" }, undefined],
      [{ email: "no-at-sign" }, ["email"]],
      [{ name: "two\nlines" }, ["name"]],
      [{ phone: "p".repeat(51) }, ["phone"]],
      [{ external_id: "" }, ["external_id"]],
    ] as const) {
      const res = await patch(c.id, json);
      expect(res.status, JSON.stringify(json)).toBe(400);
      const body = (await res.json()) as ErrorJson;
      expect(body.error).toBe("validation_error");
      if (fields) expect(body.details!.map((d) => d.field)).toEqual([...fields]);
    }
    expect(await row(c.id)).toEqual(before);
  });

  test("another organization's contact or an unknown id → 404, nothing changed", async () => {
    const before = await row(c.id);
    for (const [id, key] of [
      [c.id, b.key],
      ["con_0000000000000000", a.key],
    ] as const) {
      const res = await patch(id, { name: "Hijacked" }, key);
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ error: "not_found", message: "Contact was not found." });
    }
    expect(await row(c.id)).toEqual(before);
  });

  test("a deleted contact → 409 conflict, it stays erased", async () => {
    await env.request(`/v1/contacts/${c.id}`, { method: "DELETE", key: a.key });
    const before = await row(c.id);
    const res = await patch(c.id, { name: "Back again" });
    expect(res.status).toBe(409);
    expectError(await res.json(), "conflict");
    expect(await row(c.id)).toEqual(before);
  });
});

describe("DELETE /v1/contacts/{id}", () => {
  test("204: the personal fields are erased, deleted_at set, one contact.deleted; the ticket pointing to it keeps it; a second delete is 404", async () => {
    const c = await create(a.key, { email: `erase-${unique()}@example.test`, name: "Erase Me", phone: "555", external_id: `x-${unique()}` });
    const t = (await (await env.request("/v1/tickets", { method: "POST", key: a.key, json: { subject: "Help" } })).json()) as { id: string };
    await env.db.run("UPDATE tickets SET requester_id = ? WHERE id = ?", c.id, t.id);
    const seq = await lastSeq();
    clock.advance(3000);
    const res = await env.request(`/v1/contacts/${c.id}`, { method: "DELETE", key: a.key });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");
    const now = new Date(clock.now()).toISOString().slice(0, 19) + "Z";
    const erased = { ...c, email: null, name: null, phone: null, external_id: null, deleted_at: now, updated_at: now };
    expect(await (await env.request(`/v1/contacts/${c.id}`, { key: a.key })).json()).toEqual(erased);
    expect(await row(c.id)).toMatchObject({
      email: null,
      email_key: null,
      name: null,
      name_key: null,
      phone: null,
      external_id: null,
      deleted_at: clock.now(),
    });
    const events = await eventsAfter(seq);
    expect(events.map((e) => e.type)).toEqual(["contact.deleted"]);
    expect(JSON.parse(events[0]!.data)).toEqual(erased);
    expect(await env.db.get("SELECT requester_id FROM tickets WHERE id = ?", t.id)).toEqual({ requester_id: c.id });
    const again = await env.request(`/v1/contacts/${c.id}`, { method: "DELETE", key: a.key });
    expect(again.status).toBe(404);
    expect(await again.json()).toEqual({ error: "not_found", message: "Contact was not found." });
    expect((await eventsAfter(seq)).length).toBe(1);
  });

  test("the erased email and external_id can be used by a new contact", async () => {
    const email = `reuse-${unique()}@example.test`;
    const ext = `r-${unique()}`;
    const c = await create(a.key, { email, external_id: ext });
    await env.request(`/v1/contacts/${c.id}`, { method: "DELETE", key: a.key });
    const fresh = await create(a.key, { email, external_id: ext });
    expect(fresh.id).not.toBe(c.id);
  });

  test("another organization's contact or an unknown id → 404, nothing changed", async () => {
    const c = await create(a.key, { email: `keep-${unique()}@example.test` });
    const before = await row(c.id);
    const seq = await lastSeq();
    for (const [id, key] of [
      [c.id, b.key],
      ["con_0000000000000000", a.key],
    ] as const) {
      const res = await env.request(`/v1/contacts/${id}`, { method: "DELETE", key });
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ error: "not_found", message: "Contact was not found." });
    }
    expect(await row(c.id)).toEqual(before);
    expect(await eventsAfter(seq)).toEqual([]);
  });
});

describe("authentication", () => {
  test("every contacts route without a key → 401 with the shared body; a free plan → 403 plan_required; nothing created", async () => {
    const c = await create(a.key, { email: `auth-${unique()}@example.test` });
    const free = await env.org("Free Co", "free");
    const before = await contactCount(a.orgId);
    const routes: [string, string, unknown][] = [
      ["GET", "/v1/contacts", undefined],
      ["POST", "/v1/contacts", { email: "new@example.test" }],
      ["GET", `/v1/contacts/${c.id}`, undefined],
      ["PATCH", `/v1/contacts/${c.id}`, { name: "x" }],
      ["DELETE", `/v1/contacts/${c.id}`, undefined],
    ];
    for (const [method, path, json] of routes) {
      const res = await env.request(path, { method, json });
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe("Bearer");
      expect(await res.json()).toEqual({ error: "unauthorized", message: "Invalid or expired API key. Generate a new key in Settings." });
      const denied = await env.request(path, { method, json, key: free.key });
      expect(denied.status, `${method} ${path}`).toBe(403);
      expect(await denied.json()).toEqual({ error: "plan_required", message: "API access is available on Pro and Enterprise plans." });
    }
    expect(await contactCount(a.orgId)).toBe(before);
    expect(await contactCount(free.orgId)).toBe(0);
    expect((await (await env.request(`/v1/contacts/${c.id}`, { key: a.key })).json()) as ContactJson).toEqual(c);
  });
});
