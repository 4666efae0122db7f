// GET /v1/tickets filters, sorts and cursors against a model computed here: every filter alone and combined, every sort both ways, cursor walks while tickets change, errors naming the parameter, Link headers.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { manualClock, type ManualClock } from "../src/lib/clock";
import { newId } from "../src/lib/ids";
import { createTestEnv, type TestEnv } from "./helpers";

const PUBLIC_URL = "https://support.example.com/cc";
const T0 = Date.UTC(2026, 1, 25, 14, 30, 0);
const STATUSES = ["open", "in_progress", "resolved", "closed"] as const;
const PRIORITIES = ["low", "medium", "high", "urgent"] as const;
const RANK: Record<string, number> = { low: 0, medium: 1, high: 2, urgent: 3 };
const TAGS = ["billing", "vip", "bug", "eu:de"];

interface Made {
  id: string;
  created: number;
  updated: number;
  status: string;
  priority: string;
  assignee: string | null;
  requester: string | null;
  tags: string[];
  custom: Record<string, string | number | boolean>;
}
interface ListBody {
  data: { id: string; status: string; priority: string; tags: string[]; created_at: string; updated_at: string }[];
  meta: { page: number; per_page: number; total: number };
}

let env: TestEnv;
let clock: ManualClock;
let a: Awaited<ReturnType<TestEnv["org"]>>;
let b: Awaited<ReturnType<TestEnv["org"]>>;
let agent: string;
const contacts: string[] = [];
const made = new Map<string, Made>();
const bIds: string[] = [];

/** An instant as RFC 3339 with its milliseconds (the API's own timestamps show seconds). */
const iso = (ms: number) => new Date(ms).toISOString();
const cmp = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
type SortName = "created_at" | "-created_at" | "updated_at" | "-updated_at" | "priority" | "-priority";
const SORTS: SortName[] = ["created_at", "-created_at", "updated_at", "-updated_at", "priority", "-priority"];

/** The list order, computed independently of the server: the sort key, then id, in the sort's direction. */
function ordered(items: Made[], sort: SortName = "-created_at"): string[] {
  const field = sort.replace(/^-/, "");
  const key = (m: Made) => (field === "created_at" ? m.created : field === "updated_at" ? m.updated : RANK[m.priority]!);
  const sign = sort.startsWith("-") ? -1 : 1;
  return [...items].sort((x, y) => sign * (key(x) - key(y) || cmp(x.id, y.id))).map((m) => m.id);
}

function nextLink(res: Response): string | null {
  const link = res.headers.get("link");
  if (link === null) return null;
  const m = /^<([^>]+)>; rel="next"$/.exec(link);
  expect(m, link).not.toBeNull();
  expect(m![1]!).toStartWith(`${PUBLIC_URL}/v1/tickets?`);
  return m![1]!.slice(PUBLIC_URL.length);
}

async function list(query: string, key = a.key): Promise<{ body: ListBody; next: string | null }> {
  const res = await env.request(`/v1/tickets?${query}`, { key });
  expect(res.status, `${query}: ${await res.clone().text()}`).toBe(200);
  return { body: (await res.json()) as ListBody, next: nextLink(res) };
}

/** Follows Link rel="next" from `first` to the end, with `between` run after each page; every id in order. */
async function walk(first: string, between?: (page: number, ids: string[]) => Promise<void>): Promise<{ ids: string[]; links: string[]; totals: number[] }> {
  const ids: string[] = [];
  const links: string[] = [];
  const totals: number[] = [];
  let path: string | null = first.slice("/v1/tickets?".length);
  for (let page = 1; path !== null; page++) {
    const { body, next } = await list(path);
    ids.push(...body.data.map((t) => t.id));
    totals.push(body.meta.total);
    if (next) links.push(next);
    await between?.(
      page,
      body.data.map((t) => t.id),
    );
    path = next === null ? null : next.slice("/v1/tickets?".length);
    expect(page).toBeLessThan(200);
  }
  return { ids, links, totals };
}

async function validationOf(query: string, field: string) {
  const res = await env.request(`/v1/tickets?${query}`, { key: a.key });
  const body = (await res.json()) as { error: string; details: { field: string; message: string }[] };
  expect({ query, status: res.status, error: body.error }).toEqual({ query, status: 400, error: "validation_error" });
  expect(body.details.map((d) => d.field)).toContain(field);
  return body;
}

/** Sets what the API of this wave may not set yet, as rows: assignee, requester, tags (with ticket_tags rows), custom fields. */
async function setAttributes(m: Made) {
  const custom = JSON.stringify(Object.fromEntries(Object.entries(m.custom).sort(([x], [y]) => cmp(x, y))));
  await env.db.run(
    "UPDATE tickets SET assignee_id = ?, requester_id = ?, tags = ?, custom_fields = ? WHERE id = ?",
    m.assignee,
    m.requester,
    JSON.stringify(m.tags),
    custom,
    m.id,
  );
  await env.db.run("DELETE FROM ticket_tags WHERE ticket_id = ?", m.id);
  const row = await env.db.get<{ org_id: string; status: string; created_at: number; updated_at: number }>(
    "SELECT org_id, status, created_at, updated_at FROM tickets WHERE id = ?",
    m.id,
  );
  for (const tag of m.tags) {
    await env.db.run(
      "INSERT INTO ticket_tags (org_id, tag, ticket_id, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
      row!.org_id,
      tag,
      m.id,
      row!.status,
      row!.created_at,
      row!.updated_at,
    );
  }
}

async function createTicket(org: { key: string }, i: number): Promise<Made> {
  const priority = PRIORITIES[(i * 5) % 4]!;
  const res = await env.request("/v1/tickets", { method: "POST", key: org.key, json: { subject: `Ticket ${i}`, priority } });
  expect(res.status).toBe(201);
  const body = (await res.json()) as { id: string; created_at: string };
  return { id: body.id, created: clock.now(), updated: clock.now(), status: "open", priority, assignee: null, requester: null, tags: [], custom: {} };
}

async function patch(m: Made, json: Record<string, unknown>) {
  const res = await env.request(`/v1/tickets/${m.id}`, { method: "PATCH", key: a.key, json });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { updated_at: string; status: string; priority: string };
  // The API shows seconds; the list orders by the stored milliseconds.
  m.updated = (await env.db.get<{ updated_at: number }>("SELECT updated_at FROM tickets WHERE id = ?", m.id))!.updated_at;
  m.status = body.status;
  m.priority = body.priority;
}

async function defineField(orgId: string, key: string, type: string, options: string[] | null = null) {
  await env.db.run(
    "INSERT INTO ticket_fields (id, org_id, key, title, type, options, required, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)",
    newId("tfd" as never),
    orgId,
    key,
    key,
    type,
    options ? JSON.stringify(options) : null,
    T0,
    T0,
  );
}

beforeAll(async () => {
  clock = manualClock(T0);
  env = await createTestEnv({ clock, config: { publicUrl: PUBLIC_URL } });
  a = await env.org("Acme", "pro");
  b = await env.org("Beta", "pro");
  agent = newId("user");
  await env.db.run(
    "INSERT INTO users (id, org_id, email, name, role, created_at) VALUES (?, ?, ?, 'Agent', 'member', ?)",
    agent,
    a.orgId,
    `${agent}@example.test`,
    T0,
  );
  for (let i = 0; i < 2; i++) {
    const id = newId("con" as never);
    await env.db.run(
      "INSERT INTO contacts (id, org_id, email, email_key, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
      id,
      a.orgId,
      `c${i}@x.test`,
      `c${i}@x.test`,
      T0,
      T0,
    );
    contacts.push(id);
  }
  for (const orgId of [a.orgId, b.orgId]) {
    await defineField(orgId, "order_id", "text");
    await defineField(orgId, "amount", "number");
    await defineField(orgId, "due", "date");
    await defineField(orgId, "vip", "checkbox");
    await defineField(orgId, "tier", "dropdown", ["gold", "silver"]);
  }
  // 44 tickets for A: time moves every third ticket (ties on created_at), attributes spread over the filters.
  for (let i = 0; i < 44; i++) {
    if (i % 3 === 0) clock.advance(1000 + (i % 7) * 10);
    const m = await createTicket(a, i);
    m.assignee = i % 3 === 0 ? null : i % 3 === 1 ? a.userId : agent;
    m.requester = i % 4 === 0 ? null : contacts[i % 2]!;
    m.tags = TAGS.filter((_, j) => (i >> j) & 1).sort();
    if (i % 2 === 0) m.custom.order_id = `A-${1000 + (i % 5)}`;
    if (i % 3 !== 2) m.custom.amount = [12.5, 100, -3][i % 3]!;
    if (i % 5 === 1) m.custom.due = "2026-03-01";
    if (i % 4 !== 3) m.custom.vip = i % 4 === 0;
    if (i % 6 < 3) m.custom.tier = i % 6 === 0 ? "gold" : "silver";
    await setAttributes(m);
    made.set(m.id, m);
  }
  // Later changes: status and priority moves (updated_at moves, ties included).
  const all = [...made.values()];
  for (const [i, m] of all.entries()) {
    if (i % 4 === 0) continue;
    if (i % 5 === 0) clock.advance(500);
    await patch(m, { status: STATUSES[i % 4]!, ...(i % 7 === 0 ? { priority: "urgent" } : {}) });
  }
  // B: the same attributes, names and values: never listed or counted for A.
  for (let i = 0; i < 6; i++) {
    const m = await createTicket(b, i);
    m.tags = ["billing", "vip"];
    m.custom = { order_id: "A-1000", vip: true };
    await setAttributes(m);
    bIds.push(m.id);
  }
});
afterAll(() => env.close());

const A = () => [...made.values()];

describe("every filter alone, then combined: the right tickets, in order, with the exact total", () => {
  const cases: [string, (m: Made) => boolean][] = [
    ["status=open", (m) => m.status === "open"],
    ["status=open,closed", (m) => m.status === "open" || m.status === "closed"],
    ["status=resolved,in_progress,resolved", (m) => m.status === "resolved" || m.status === "in_progress"],
    ["priority=urgent", (m) => m.priority === "urgent"],
    ["priority=low,high", (m) => m.priority === "low" || m.priority === "high"],
    ["assignee_id=none", (m) => m.assignee === null],
    ["assignee_id=AGENT", (m) => m.assignee === agent],
    ["assignee_id=user_0000000000000000", () => false],
    ["requester_id=CONTACT0", (m) => m.requester === contacts[0]],
    ["tag=billing", (m) => m.tags.includes("billing")],
    ["tag=BILLING", (m) => m.tags.includes("billing")],
    ["tag=billing&tag=vip", (m) => m.tags.includes("billing") && m.tags.includes("vip")],
    ["tag=billing,vip,eu:de", (m) => ["billing", "vip", "eu:de"].every((t) => m.tags.includes(t))],
    ["tag=nosuchtag", () => false],
    ["custom_fields[order_id]=A-1002", (m) => m.custom.order_id === "A-1002"],
    ["custom_fields%5Border_id%5D=A-1002", (m) => m.custom.order_id === "A-1002"],
    ["custom_fields[amount]=100", (m) => m.custom.amount === 100],
    ["custom_fields[amount]=1e2", (m) => m.custom.amount === 100],
    ["custom_fields[amount]=-3", (m) => m.custom.amount === -3],
    ["custom_fields[due]=2026-03-01", (m) => m.custom.due === "2026-03-01"],
    ["custom_fields[vip]=true", (m) => m.custom.vip === true],
    ["custom_fields[vip]=false", (m) => m.custom.vip === false],
    ["custom_fields[tier]=gold", (m) => m.custom.tier === "gold"],
    ["custom_fields[vip]=true&custom_fields[tier]=silver", (m) => m.custom.vip === true && m.custom.tier === "silver"],
    ["created_after=AT10", (m) => m.created > at(10)],
    ["created_before=AT10", (m) => m.created < at(10)],
    ["updated_after=UAT", (m) => m.updated > uat()],
    ["updated_before=UAT", (m) => m.updated < uat()],
    ["created_after=AT5&created_before=AT30", (m) => m.created > at(5) && m.created < at(30)],
    ["status=closed&priority=urgent,low", (m) => m.status === "closed" && (m.priority === "urgent" || m.priority === "low")],
    ["tag=vip&status=open", (m) => m.tags.includes("vip") && m.status === "open"],
    ["tag=vip&status=open,closed&assignee_id=none", (m) => m.tags.includes("vip") && (m.status === "open" || m.status === "closed") && m.assignee === null],
    [
      "tag=bug&custom_fields[vip]=true&updated_after=AT3&requester_id=CONTACT1",
      (m) => m.tags.includes("bug") && m.custom.vip === true && m.updated > at(3) && m.requester === contacts[1],
    ],
  ];
  /** The created_at of the i-th ticket made, as an RFC 3339 bound (a tie on created_at sits right on it). */
  const at = (i: number) => [...made.values()][i]!.created;
  const uat = () => [...made.values()].map((m) => m.updated).sort((x, y) => x - y)[20]!;
  const resolve = (query: string) =>
    query
      .replace("AGENT", agent)
      .replace("CONTACT0", contacts[0]!)
      .replace("CONTACT1", contacts[1]!)
      .replace(/AT(\d+)/g, (_, i) => encodeURIComponent(iso(at(Number(i)))))
      .replace("UAT", encodeURIComponent(iso(uat())));

  for (const [query, keep] of cases) {
    test(query, async () => {
      const q = resolve(query);
      const expected = ordered(A().filter(keep));
      const { ids, totals } = await walk(`/v1/tickets?${q}&per_page=7`);
      expect(ids).toEqual(expected);
      for (const total of totals) expect(total).toBe(expected.length);
      // The cursor walk from the first page lists the same tickets (the Link of page 1 is in keyset mode here).
      const first = await list(`${q}&per_page=7&sort=-created_at`);
      expect(first.body.meta.total).toBe(expected.length);
      for (const id of first.body.data.map((t) => t.id)) expect(bIds).not.toContain(id);
    });
  }

  test("RFC 3339 with an offset, a fraction, and a + that arrived as a space: the same instant, bounds exclusive", async () => {
    const m = A()[12]!;
    const iso = new Date(m.created).toISOString(); // …T14:30:05.000Z style
    const shifted = new Date(m.created + 2 * 3600_000).toISOString().replace(/Z$/, "+02:00");
    const exact = ordered(A().filter((x) => x.created > m.created));
    expect((await list(`created_after=${encodeURIComponent(iso)}&per_page=100`)).body.data.map((t) => t.id)).toEqual(exact);
    expect((await list(`created_after=${encodeURIComponent(shifted)}&per_page=100`)).body.data.map((t) => t.id)).toEqual(exact);
    expect((await list(`created_after=${shifted.replace("+", "%20")}&per_page=100`)).body.data.map((t) => t.id)).toEqual(exact);
    // A sub-millisecond fraction: before …000.0004 still includes the ticket at …000 (strictly before it).
    const micro = iso.replace(/\.(\d{3})Z$/, ".$10004Z");
    expect((await list(`created_before=${encodeURIComponent(micro)}&per_page=100`)).body.data.map((t) => t.id)).toEqual(
      ordered(A().filter((x) => x.created <= m.created)),
    );
  });

  test("another organization's tickets never match or count, whatever the filter", async () => {
    const { body } = await list("tag=billing&tag=vip&custom_fields[order_id]=A-1000&custom_fields[vip]=true&per_page=100", b.key);
    expect(body.data.map((t) => t.id).sort()).toEqual([...bIds].sort());
    expect(body.meta.total).toBe(bIds.length);
    const fromA = await list("tag=billing&tag=vip&custom_fields[order_id]=A-1000&custom_fields[vip]=true&per_page=100");
    expect(fromA.body.data.some((t) => bIds.includes(t.id))).toBe(false);
  });
});

describe("every sort, both directions: offset pages, cursor walks and starting_after agree", () => {
  for (const sort of SORTS) {
    test(`sort=${sort}`, async () => {
      const expected = ordered(A(), sort);
      const byPage = await walk(`/v1/tickets?sort=${sort}&per_page=6&page=1`);
      expect(byPage.ids).toEqual(expected);
      byPage.links.forEach((l, i) => expect(l).toBe(`/v1/tickets?sort=${sort}&per_page=6&page=${i + 2}`));
      const byCursor = await walk(`/v1/tickets?sort=${sort}&per_page=6&starting_after=${expected[4]}`);
      expect(byCursor.ids).toEqual(expected.slice(5));
      for (const l of byCursor.links) expect(l).toMatch(new RegExp(`^/v1/tickets\\?sort=${sort}&per_page=6&cursor=[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$`));
      // A cursor continues from any page, whatever mode it came from.
      for (const [i, l] of byCursor.links.entries()) {
        const { body } = await list(l.slice("/v1/tickets?".length));
        expect(body.data.map((t) => t.id)).toEqual(expected.slice(5 + (i + 1) * 6, 5 + (i + 2) * 6));
      }
    });
  }

  test("the default is -created_at, and sort=-created_at is the same list; the Link carries sort only when it was sent", async () => {
    const plain = await list("per_page=5");
    const sorted = await list("per_page=5&sort=-created_at");
    expect(plain.body).toEqual(sorted.body);
    expect(plain.next).toBe("/v1/tickets?per_page=5&page=2");
    expect(sorted.next).toBe("/v1/tickets?sort=-created_at&per_page=5&page=2");
  });

  test("filters and sort together, walked by cursor: each matching ticket once, in order", async () => {
    const expected = ordered(
      A().filter((m) => m.tags.includes("vip") && m.status !== "closed"),
      "-priority",
    );
    const walked = await walk(`/v1/tickets?status=open,in_progress,resolved&tag=vip&sort=-priority&per_page=3&starting_after=${expected[0]}`);
    expect(walked.ids).toEqual(expected.slice(1));
    for (const l of walked.links) expect(l).toStartWith("/v1/tickets?status=open,in_progress,resolved&tag=vip&sort=-priority&per_page=3&cursor=");
  });
});

describe("cursor walks while tickets change", () => {
  test("sort=updated_at: deleting the ticket the cursor points at, and updating others, never repeats or skips an unchanged ticket", async () => {
    const victims = new Set<string>();
    const changed = new Set<string>();
    const before = ordered(A(), "updated_at");
    const walked = await walk("/v1/tickets?sort=updated_at&per_page=5&starting_after=" + before[0], async (page, ids) => {
      if (page === 1) {
        // The cursor's own ticket goes; a later one changes (it moves to the end); an earlier one changes (it comes again).
        const last = ids.at(-1)!;
        const res = await env.request(`/v1/tickets/${last}`, { method: "DELETE", key: a.key });
        expect(res.status).toBe(204);
        victims.add(last);
        made.delete(last);
        clock.advance(60_000);
        for (const id of [before[20]!, ids[0]!]) {
          await patch(made.get(id)!, { subject: `changed ${page}` });
          changed.add(id);
        }
      }
      if (page === 3) {
        const later = before[30]!;
        await env.request(`/v1/tickets/${later}`, { method: "DELETE", key: a.key });
        victims.add(later);
        made.delete(later);
      }
    });
    const unchanged = before.slice(1).filter((id) => !victims.has(id) && !changed.has(id));
    // Every unchanged ticket exactly once, in its order; changed ones where they moved (at the end); deleted ones after their deletion never.
    expect(walked.ids.filter((id) => !changed.has(id) && !victims.has(id))).toEqual(unchanged);
    expect(walked.ids.slice(-2).sort()).toEqual([...changed].sort());
    expect(walked.ids.filter((id) => id === before[30])).toEqual([]);
  });

  test("sort=-created_at: a deleted cursor ticket does not break the walk (starting_after it is a 400, its cursor is not)", async () => {
    const expected = ordered(A());
    const { body, next } = await list("per_page=4&starting_after=" + expected[0]);
    const last = body.data.at(-1)!.id;
    expect((await env.request(`/v1/tickets/${last}`, { method: "DELETE", key: a.key })).status).toBe(204);
    made.delete(last);
    expect(last).toBe(expected[4]!);
    const after = await walk(next!);
    expect(after.ids).toEqual(expected.slice(5));
    await validationOf(`starting_after=${last}`, "starting_after");
  });
});

describe("bad values are a 400 naming the parameter", () => {
  const cases: [string, string][] = [
    ["status=bogus", "status"],
    ["status=open,", "status"],
    ["status=", "status"],
    ["priority=URGENT", "priority"],
    ["tag=has space", "tag"],
    ["tag=" + "x".repeat(51), "tag"],
    ["tag=", "tag"],
    ["custom_fields[nope]=1", "custom_fields[nope]"],
    ["custom_fields[Order_ID]=1", "custom_fields[Order_ID]"],
    ["custom_fields[amount]=abc", "custom_fields[amount]"],
    ["custom_fields[due]=2026-02-30", "custom_fields[due]"],
    ["custom_fields[vip]=yes", "custom_fields[vip]"],
    ["created_after=yesterday", "created_after"],
    ["created_before=2026-02-30T00:00:00Z", "created_before"],
    ["updated_after=2026-02-25", "updated_after"],
    ["updated_before=2026-02-25T25:00:00Z", "updated_before"],
    ["sort=newest", "sort"],
    ["sort=relevance", "sort"],
    ["sort=-relevance", "sort"],
    ["cursor=nope", "cursor"],
    ["cursor=", "cursor"],
    ["page=2&cursor=abc.def", "cursor"],
    ["cursor=abc.def&starting_after=tkt_0000000000000000", "cursor"],
    ["starting_after=tkt_0000000000000000", "starting_after"],
    ["tag=a&tag=b&tag=c&tag=d&tag=e&tag=f&tag=g&tag=h&tag=i&tag=j&tag=k&tag=l&tag=m&tag=n&tag=o&tag=p&tag=q&tag=r&tag=s&tag=t&tag=u", "tag"],
  ];
  for (const [query, field] of cases) test(`${query.slice(0, 60)} → ${field}`, () => validationOf(query, field).then(() => undefined));

  test("several bad parameters: one 400 naming each", async () => {
    const body = await validationOf("status=x&priority=y&tag=%20&created_after=w&custom_fields[nope]=1", "status");
    expect(body.details.map((d) => d.field).sort()).toEqual(["created_after", "custom_fields[nope]", "priority", "status", "tag"]);
  });

  test("a cursor altered, cut, or made for another sort is refused", async () => {
    const { next } = await list("sort=updated_at&per_page=2");
    expect(next).not.toBeNull();
    const keyset = await list("sort=updated_at&per_page=2&starting_after=" + ordered(A(), "updated_at")[0]);
    const cursor = /cursor=([^&]+)$/.exec(keyset.next!)![1]!;
    const [payload, sum] = cursor.split(".") as [string, string];
    const flipped = `${payload.slice(0, -2)}${payload.at(-2) === "A" ? "B" : "A"}${payload.at(-1)}.${sum}`;
    const forged = `${Buffer.from(JSON.stringify(["updated_at", 0, "tkt_x"])).toString("base64url")}.${sum}`;
    for (const bad of [flipped, payload, `${payload}.`, forged, cursor.slice(1)]) await validationOf(`sort=updated_at&cursor=${bad}`, "cursor");
    const other = await validationOf(`sort=-updated_at&cursor=${cursor}`, "cursor");
    expect(other.details[0]!.message).toContain("sort=updated_at");
    expect((await env.request(`/v1/tickets?sort=updated_at&cursor=${cursor}`, { key: a.key })).status).toBe(200);
    // Another organization's key with this cursor: its own tickets after that position, nothing of A's.
    const fromB = await list(`sort=updated_at&cursor=${cursor}&per_page=100`, b.key);
    expect(fromB.body.data.every((t) => bIds.includes(t.id))).toBe(true);
  });

  test("query-string rules: tag may repeat, a custom field or status may not", async () => {
    expect((await env.request("/v1/tickets?tag=vip&tag=bug", { key: a.key })).status).toBe(200);
    await validationOf("custom_fields[vip]=true&custom_fields[vip]=false", "custom_fields[vip]");
    await validationOf("custom_fields[vip]=true&custom_fields%5Bvip%5D=true", "custom_fields[vip]");
    await validationOf("status=open&status=closed", "status");
    await validationOf("tag=%FF", "tag");
    await validationOf("custom_fields[order_id]=%FF", "custom_fields[order_id]");
    // Unknown parameters stay ignored, repeated or not.
    expect((await env.request("/v1/tickets?utm=1&utm=2&custom_fieldsx=1", { key: a.key })).status).toBe(200);
  });
});

describe("the Link header", () => {
  test("carries every filter, the sort and the page size, then page= (offset) or cursor= (keyset), and leads to the next page", async () => {
    const q = `status=open,resolved&priority=low,medium,high,urgent&assignee_id=${agent}&tag=vip&custom_fields[tier]=silver&created_after=${encodeURIComponent(iso(T0))}&sort=created_at`;
    const expected = ordered(
      A().filter((m) => (m.status === "open" || m.status === "resolved") && m.assignee === agent && m.tags.includes("vip") && m.custom.tier === "silver"),
      "created_at",
    );
    expect(expected.length).toBeGreaterThan(1);
    const first = await list(`${q}&per_page=1`);
    expect(first.next).toBe(
      `/v1/tickets?status=open,resolved&priority=low,medium,high,urgent&assignee_id=${agent}&tag=vip&custom_fields%5Btier%5D=silver&created_after=${encodeURIComponent(iso(T0))}&sort=created_at&per_page=1&page=2`,
    );
    const walked = await walk(`/v1/tickets?${q}&per_page=1&starting_after=${expected[0]}`);
    expect(walked.ids).toEqual(expected.slice(1));
    for (const l of walked.links) expect(l).toContain("&custom_fields%5Btier%5D=silver&");
  });
});
