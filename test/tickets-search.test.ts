// GET /v1/tickets?q=: the search syntax over one corpus (punctuation, digits, e-mail addresses, hyphens, other scripts), the same tickets on both engines, comments and internal notes, redaction, changes, ranking and isolation.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { manualClock } from "../src/lib/clock";
import { newId } from "../src/lib/ids";
import { createTestEnv, type TestEnv } from "./helpers";

const PUBLIC_URL = "https://support.example.com/cc";
const T0 = Date.UTC(2026, 1, 25, 14, 30, 0);

interface Doc {
  subject: string;
  description?: string;
  comments?: { body: string; public?: boolean }[];
}

/** The corpus: each org gets the same tickets (labels t1…), so isolation is checked on identical texts. */
const CORPUS: Record<string, Doc> = {
  t1: { subject: "Refund for order A-1001", description: "Customer asked for a refund of the duplicate charge." },
  t2: { subject: "Login broken on mobile", description: "The e-mail foo.bar@example.com cannot log in; error 0x1F." },
  t3: { subject: "Café menu", description: "Naïve question about the café's crème brûlée." },
  t4: {
    subject: "Invoice question",
    comments: [{ body: "Please resend invoice INV-2026-0042" }, { body: "refunded manually — do not tell", public: false }],
  },
  t5: { subject: "Привет мир", description: "Straße ΣΊΣΥΦΟΣ: a well-known issue\nsince 2019" },
  t6: { subject: "Duplicate charge", description: "credit card charged twice", comments: [{ body: "credit-card refund pending" }] },
  t7: { subject: "Printer on fire", description: "Refunding is not an option", comments: [{ body: "secret password hunter2" }] },
  t8: { subject: "Another refund", description: "refund refund refund" },
};

/** q → the labels it must find (the documented syntax; the same answer on SQLite and PostgreSQL). */
const QUERIES: [string, string[]][] = [
  ["refund", ["t1", "t6", "t8"]],
  ["REFUND", ["t1", "t6", "t8"]],
  ["refund*", ["t1", "t4", "t6", "t7", "t8"]],
  ["Refu*", ["t1", "t4", "t6", "t7", "t8"]],
  ['"duplicate charge"', ["t1", "t6"]],
  ["duplicate charge", ["t1", "t6"]],
  ["charge duplicate", ["t1", "t6"]],
  ['"charge duplicate"', []],
  ['"credit card"', ["t6"]],
  ['"credit car"*', ["t6"]],
  ["refund -duplicate", ["t8"]],
  ['refund -"duplicate charge"', ["t8"]],
  ["-refund* -café -login", ["t5"]],
  ["foo.bar@example.com", ["t2"]],
  ["FOO.BAR@EXAMPLE.COM", ["t2"]],
  ["example.com", ["t2"]],
  ["bar@example", ["t2"]],
  ["e-mail", ["t2"]],
  ["A-1001", ["t1"]],
  ["1001", ["t1"]],
  ["0x1f", ["t2"]],
  ["2019", ["t5"]],
  ["café", ["t3"]],
  ["CAFÉ", ["t3"]],
  ["cafe", []],
  ["café's", ["t3"]],
  ["crème brûlée", ["t3"]],
  ["naïve", ["t3"]],
  ["привет", ["t5"]],
  ["ПРИВЕТ МИР", ["t5"]],
  ["straße", ["t5"]],
  ["σίσυφοσ", ["t5"]],
  ["ΣΊΣΥΦΟΣ", ["t5"]],
  ["well-known", ["t5"]],
  ['"known issue"', ["t5"]],
  ["inv-2026-0042", ["t4"]],
  ["manually", ["t4"]],
  ['"do not tell"', ["t4"]],
  ["invoice refunded", ["t4"]],
  ['"question refunded"', []],
  ['"1001 customer"', []],
  ["hunter2", ["t7"]],
  ["nothing-like-this", []],
  ["refund && ,,", ["t1", "t6", "t8"]],
  ['"unclosed phrase', []],
  ['"refund for', ["t1"]],
];

let env: TestEnv;
let a: Awaited<ReturnType<TestEnv["org"]>>;
let b: Awaited<ReturnType<TestEnv["org"]>>;
const ids: Record<string, Record<string, string>> = {};
const commentIds: Record<string, string[]> = {};
const clock = manualClock(T0);

interface ListBody {
  data: { id: string }[];
  meta: { page: number; per_page: number; total: number };
}

async function search(q: string, key = a.key, extra = ""): Promise<{ body: ListBody; link: string | null }> {
  const res = await env.request(`/v1/tickets?q=${encodeURIComponent(q)}&per_page=100${extra}`, { key });
  expect(res.status, `${q}: ${await res.clone().text()}`).toBe(200);
  return { body: (await res.json()) as ListBody, link: res.headers.get("link") };
}

const labelsOf = (org: string, found: string[]) => found.map((id) => Object.entries(ids[org]!).find(([, v]) => v === id)?.[0] ?? `foreign:${id}`).sort();

async function addComment(orgId: string, ticketId: string, userId: string, body: string, isPublic = true): Promise<string> {
  clock.advance(1000);
  const id = newId("cmt" as never);
  await env.db.run(
    "INSERT INTO comments (id, org_id, ticket_id, author_id, author_type, body, public, created_at) VALUES (?, ?, ?, ?, 'user', ?, ?, ?)",
    id,
    orgId,
    ticketId,
    userId,
    body,
    isPublic ? 1 : 0,
    clock.now(),
  );
  return id;
}

beforeAll(async () => {
  env = await createTestEnv({ clock, config: { publicUrl: PUBLIC_URL } });
  a = await env.org("Acme", "pro");
  b = await env.org("Beta", "pro");
  for (const org of [a, b]) {
    ids[org.orgId] = {};
    for (const [label, doc] of Object.entries(CORPUS)) {
      clock.advance(1000);
      const res = await env.request("/v1/tickets", { method: "POST", key: org.key, json: { subject: doc.subject, description: doc.description ?? null } });
      expect(res.status).toBe(201);
      const id = ((await res.json()) as { id: string }).id;
      ids[org.orgId]![label] = id;
      for (const c of doc.comments ?? [])
        (commentIds[`${org.orgId}:${label}`] ??= []).push(await addComment(org.orgId, id, org.userId, c.body, c.public ?? true));
    }
  }
});
afterAll(() => env.close());

describe("the documented syntax finds the same tickets on every engine", () => {
  for (const [q, expected] of QUERIES) {
    test(`q=${q}`, async () => {
      const { body } = await search(q);
      expect(
        labelsOf(
          a.orgId,
          body.data.map((t) => t.id),
        ),
      ).toEqual([...expected].sort());
      expect(body.meta.total).toBe(expected.length);
    });
  }

  test("search combines with the other filters and sorts; its total is exact", async () => {
    const t8 = ids[a.orgId]!.t8!;
    expect((await env.request(`/v1/tickets/${t8}`, { method: "PATCH", key: a.key, json: { status: "closed", priority: "urgent" } })).status).toBe(200);
    const closed = await search("refund", a.key, "&status=closed");
    expect(
      labelsOf(
        a.orgId,
        closed.body.data.map((t) => t.id),
      ),
    ).toEqual(["t8"]);
    expect(closed.body.meta.total).toBe(1);
    const open = await search("refund*", a.key, "&status=open&sort=created_at");
    expect(
      labelsOf(
        a.orgId,
        open.body.data.map((t) => t.id),
      ),
    ).toEqual(["t1", "t4", "t6", "t7"]);
    // In creation order: the corpus was created t1 … t8.
    expect(open.body.data.map((t) => t.id)).toEqual(["t1", "t4", "t6", "t7"].map((l) => ids[a.orgId]![l]!));
    const urgent = await search("refund*", a.key, "&priority=urgent,high&sort=-priority");
    expect(
      labelsOf(
        a.orgId,
        urgent.body.data.map((t) => t.id),
      ),
    ).toEqual(["t8"]);
    expect((await env.request(`/v1/tickets/${t8}`, { method: "PATCH", key: a.key, json: { status: "open", priority: "medium" } })).status).toBe(200);
  });
});

describe("what is searched", () => {
  test("internal notes match (they are the agents' own search), public comments too", async () => {
    expect(
      labelsOf(
        a.orgId,
        (await search("manually")).body.data.map((t) => t.id),
      ),
    ).toEqual(["t4"]);
    expect(
      labelsOf(
        a.orgId,
        (await search("resend")).body.data.map((t) => t.id),
      ),
    ).toEqual(["t4"]);
  });

  test("a new comment matches at once; a redacted one stops matching (the ticket's other texts still do)", async () => {
    const t7 = ids[a.orgId]!.t7!;
    const cid = await addComment(a.orgId, t7, a.userId, "zebra crossing");
    expect(
      labelsOf(
        a.orgId,
        (await search("zebra")).body.data.map((t) => t.id),
      ),
    ).toEqual(["t7"]);
    const secret = commentIds[`${a.orgId}:t7`]![0]!;
    for (const id of [secret, cid]) {
      await env.db.run("UPDATE comments SET body = '[redacted]', redacted_at = ?, redacted_by = ? WHERE id = ?", clock.now(), a.userId, id);
    }
    expect((await search("hunter2")).body.meta.total).toBe(0);
    expect((await search("zebra")).body.meta.total).toBe(0);
    expect((await search("redacted")).body.meta.total).toBe(0);
    expect(
      labelsOf(
        a.orgId,
        (await search("printer")).body.data.map((t) => t.id),
      ),
    ).toEqual(["t7"]);
    // Org B's copy of the comment is not redacted: it still matches there, never here.
    expect(
      labelsOf(
        b.orgId,
        (await search("hunter2", b.key)).body.data.map((t) => t.id),
      ),
    ).toEqual(["t7"]);
  });

  test("a changed subject or description is searched as it now reads; a deleted ticket is gone with its comments", async () => {
    const t3 = ids[a.orgId]!.t3!;
    expect((await env.request(`/v1/tickets/${t3}`, { method: "PATCH", key: a.key, json: { subject: "Kitchen closed" } })).status).toBe(200);
    expect((await search("menu")).body.meta.total).toBe(0);
    expect(
      labelsOf(
        a.orgId,
        (await search("kitchen crème")).body.data.map((t) => t.id),
      ),
    ).toEqual(["t3"]);
    const t4 = ids[a.orgId]!.t4!;
    expect((await env.request(`/v1/tickets/${t4}`, { method: "DELETE", key: a.key })).status).toBe(204);
    expect((await search("manually")).body.meta.total).toBe(0);
    expect((await search("invoice")).body.meta.total).toBe(0);
    expect(
      labelsOf(
        b.orgId,
        (await search("manually", b.key)).body.data.map((t) => t.id),
      ),
    ).toEqual(["t4"]);
  });
});

describe("isolation: another organization's texts never match, count or rank", () => {
  test("for every query, each organization finds only its own copy of the corpus", async () => {
    for (const [q] of QUERIES) {
      const found = (await search(q, b.key)).body.data.map((t) => t.id);
      expect(labelsOf(b.orgId, found).some((l) => l.startsWith("foreign:"))).toBe(false);
    }
  });

  test("relevance in one organization is the same whatever another organization's texts hold", async () => {
    const before = (await search("refund charge", b.key, "&sort=relevance")).body.data.map((t) => t.id);
    for (let i = 0; i < 30; i++) {
      const res = await env.request("/v1/tickets", { method: "POST", key: a.key, json: { subject: `charge ${i}`, description: "charge charge refund" } });
      expect(res.status).toBe(201);
    }
    const after = (await search("refund charge", b.key, "&sort=relevance")).body.data.map((t) => t.id);
    expect(after).toEqual(before);
    expect(labelsOf(b.orgId, after)).toEqual(["t1", "t6"]);
  });
});

describe("sort=relevance and paging a search", () => {
  test("best first: each (word, text) match counts, the ticket's own text twice a comment; ties by id, descending", async () => {
    // refund: t1 and t8 in their own text (2 each), t6 in a comment (1).
    const { body } = await search("refund", b.key, "&sort=relevance");
    const [t1, t8, t6] = ["t1", "t8", "t6"].map((l) => ids[b.orgId]![l]!) as [string, string, string];
    expect(body.data.map((t) => t.id)).toEqual([...[t1, t8].sort().reverse(), t6]);
  });

  test("a cursor walk over relevance pages lists every match once, in order; starting_after works too; Links carry q and sort", async () => {
    const all = (await search("refund*", b.key, "&sort=relevance")).body.data.map((t) => t.id);
    expect(all.length).toBe(5);
    const walked: string[] = [];
    let path: string | null = `/v1/tickets?q=${encodeURIComponent("refund*")}&sort=relevance&per_page=2&starting_after=${all[0]}`;
    while (path) {
      const res = await env.request(path, { key: b.key });
      expect(res.status).toBe(200);
      walked.push(...((await res.json()) as ListBody).data.map((t) => t.id));
      const link = res.headers.get("link");
      path = link ? /^<([^>]+)>/.exec(link)![1]!.slice(PUBLIC_URL.length) : null;
      if (path) expect(path).toStartWith("/v1/tickets?q=refund*&sort=relevance&per_page=2&cursor=");
    }
    expect(walked).toEqual(all.slice(1));
  });

  test("offset pages of a search, with the exact total and page Links", async () => {
    const first = await env.request(`/v1/tickets?q=${encodeURIComponent("refund*")}&per_page=2`, { key: b.key });
    expect(first.headers.get("link")).toBe(`<${PUBLIC_URL}/v1/tickets?q=refund*&per_page=2&page=2>; rel="next"`);
    expect(((await first.json()) as ListBody).meta).toEqual({ page: 1, per_page: 2, total: 5 });
  });
});

describe("a q that cannot be searched is a 400 naming q", () => {
  const cases: [string, string][] = [
    ["", "must contain a word"],
    ["   ", "must contain a word"],
    ["!!! ,,, --", "must contain a word"],
    ["r*", "at least 2 characters"],
    ["x".repeat(501), "at most 500 characters"],
    [Array.from({ length: 17 }, (_, i) => `w${i}`).join(" "), "at most 16"],
  ];
  for (const [q, message] of cases) {
    test(`q=${q.slice(0, 30)}`, async () => {
      const res = await env.request(`/v1/tickets?q=${encodeURIComponent(q)}`, { key: a.key });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: string; details: { field: string; message: string }[] };
      expect(body.details.map((d) => d.field)).toEqual(["q"]);
      expect(body.details[0]!.message).toContain(message);
    });
  }

  test("sort=relevance without q is a 400 naming sort; q given twice is a 400 naming q", async () => {
    const res = await env.request("/v1/tickets?sort=relevance", { key: a.key });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { details: { field: string }[] }).details.map((d) => d.field)).toEqual(["sort"]);
    const twice = await env.request("/v1/tickets?q=a&q=b", { key: a.key });
    expect(twice.status).toBe(400);
  });
});
