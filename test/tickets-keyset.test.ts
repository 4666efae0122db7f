// Keyset pagination of GET /v1/tickets (starting_after) against offset pages: same order, filters, Link headers, errors, isolation.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { manualClock } from "../src/lib/clock";
import { createTestEnv, type TestEnv } from "./helpers";

const PUBLIC_URL = "https://support.example.com/cc";
const STATUSES = ["open", "in_progress", "resolved", "closed"] as const;
const PRIORITIES = ["low", "medium", "high", "urgent"] as const;

interface Made {
  id: string;
  at: number;
  status: string;
  priority: string;
}
interface ListBody {
  data: { id: string; status: string; priority: string }[];
  meta: { page: number; per_page: number; total: number };
}

let env: TestEnv;
let a: Awaited<ReturnType<TestEnv["org"]>>;
let b: Awaited<ReturnType<TestEnv["org"]>>;
const made: Record<string, Made[]> = {};

/** The list order, computed independently of the server: created_at DESC, then id DESC. */
function expectedOrder(items: Made[]): string[] {
  return [...items].sort((x, y) => y.at - x.at || (y.id < x.id ? -1 : y.id > x.id ? 1 : 0)).map((m) => m.id);
}

function nextLink(res: Response): string | null {
  const link = res.headers.get("link");
  if (link === null) return null;
  const m = /^<([^>]+)>; rel="next"$/.exec(link);
  expect(m, link).not.toBeNull();
  return m![1]!;
}

/** Follows Link rel="next" from `first` to the end; returns every id in order and each page's body. */
async function walk(first: string, key: string): Promise<{ ids: string[]; pages: ListBody[]; links: string[] }> {
  const ids: string[] = [];
  const pages: ListBody[] = [];
  const links: string[] = [];
  let path: string | null = first;
  while (path !== null) {
    const res = await env.request(path, { key });
    expect(res.status, path).toBe(200);
    const body = (await res.json()) as ListBody;
    pages.push(body);
    ids.push(...body.data.map((t) => t.id));
    const next = nextLink(res);
    if (next === null) break;
    links.push(next);
    expect(next).toStartWith(`${PUBLIC_URL}/v1/tickets?`);
    path = next.slice(PUBLIC_URL.length);
    expect(pages.length).toBeLessThan(200); // a Link loop would otherwise never end
  }
  return { ids, pages, links };
}

beforeAll(async () => {
  const clock = manualClock(Date.UTC(2026, 1, 25, 14, 30, 0));
  env = await createTestEnv({ clock, config: { publicUrl: PUBLIC_URL } });
  a = await env.org("Acme", "pro");
  b = await env.org("Beta", "pro");
  made[a.key] = [];
  made[b.key] = [];
  // 61 tickets for A and 17 for B, interleaved in time; the clock moves only every third ticket, so created_at
  // ties in groups of three and the order depends on the id tie-break.
  for (let i = 0; i < 78; i++) {
    if (i % 3 === 0) clock.advance(1000);
    const org = i % 9 === 4 || i % 9 === 8 ? b : a;
    const priority = PRIORITIES[i % 4]!;
    const res = await env.request("/v1/tickets", { method: "POST", key: org.key, json: { subject: `Ticket ${i}`, priority } });
    expect(res.status).toBe(201);
    const id = ((await res.json()) as { id: string }).id;
    const status = STATUSES[Math.floor(i / 4) % 4]!;
    if (status !== "open") {
      const p = await env.request(`/v1/tickets/${id}`, { method: "PATCH", key: org.key, json: { status } });
      expect(p.status).toBe(200);
    }
    made[org.key]!.push({ id, at: clock.now(), status, priority });
  }
});
afterAll(() => env.close());

describe("walking every page both ways", () => {
  for (const perPage of [1, 7, 25, 100]) {
    test(`per_page=${perPage}: offset pages and keyset pages list the same tickets in the same order, each once`, async () => {
      const expected = expectedOrder(made[a.key]!);
      const byPage = await walk(`/v1/tickets?per_page=${perPage}`, a.key);
      const byCursor = await walk(`/v1/tickets?per_page=${perPage}&starting_after=${expected[0]}`, a.key);
      expect(byPage.ids).toEqual(expected);
      // The keyset walk starts after the first ticket: it is everything but that one.
      expect(byCursor.ids).toEqual(expected.slice(1));
      expect(new Set(byPage.ids).size).toBe(expected.length);
      expect(byPage.pages.length).toBe(Math.ceil(expected.length / perPage));
      // Offset Links count pages; keyset Links carry an opaque cursor (the last ticket's sort key and id: no lookup,
      // so a walk survives that ticket's deletion).
      byPage.links.forEach((l, i) => expect(l).toBe(`${PUBLIC_URL}/v1/tickets?per_page=${perPage}&page=${i + 2}`));
      byCursor.links.forEach((l) => expect(l).toMatch(new RegExp(`^${PUBLIC_URL}/v1/tickets\\?per_page=${perPage}&cursor=[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$`)));
    });
  }

  test("a cursor taken from any offset page continues exactly where that page ended", async () => {
    const expected = expectedOrder(made[a.key]!);
    for (const page of [1, 2, 3, 8]) {
      const res = await env.request(`/v1/tickets?per_page=7&page=${page}`, { key: a.key });
      const last = ((await res.json()) as ListBody).data.at(-1)!.id;
      const after = await env.request(`/v1/tickets?per_page=7&starting_after=${last}`, { key: a.key });
      const ids = ((await after.json()) as ListBody).data.map((t) => t.id);
      expect(ids).toEqual(expected.slice(page * 7, page * 7 + 7));
    }
  });

  test("keyset mode: meta is exactly {page: 1, per_page, total} with the total of the filter; the last page has no Link", async () => {
    const expected = expectedOrder(made[a.key]!);
    const res = await env.request(`/v1/tickets?per_page=10&starting_after=${expected[expected.length - 11]}`, { key: a.key });
    expect(res.status).toBe(200);
    expect(res.headers.get("link")).toBeNull();
    const body = (await res.json()) as ListBody;
    expect(body.meta).toEqual({ page: 1, per_page: 10, total: expected.length });
    expect(Object.keys(body.meta).sort()).toEqual(["page", "per_page", "total"]);
    expect(body.data.map((t) => t.id)).toEqual(expected.slice(-10));
    // After the very last ticket: an empty page, still 200, no Link.
    const end = await env.request(`/v1/tickets?starting_after=${expected.at(-1)}`, { key: a.key });
    expect(end.status).toBe(200);
    expect(end.headers.get("link")).toBeNull();
    expect(((await end.json()) as ListBody).data).toEqual([]);
  });

  test("offset mode: a Link on every page but the last, none past the end", async () => {
    const total = made[a.key]!.length;
    const lastPage = Math.ceil(total / 25);
    expect(nextLink(await env.request(`/v1/tickets?page=${lastPage - 1}`, { key: a.key }))).toBe(`${PUBLIC_URL}/v1/tickets?per_page=25&page=${lastPage}`);
    expect(nextLink(await env.request(`/v1/tickets?page=${lastPage}`, { key: a.key }))).toBeNull();
    expect(nextLink(await env.request(`/v1/tickets?page=${lastPage + 5}`, { key: a.key }))).toBeNull();
  });
});

describe("filters", () => {
  const cases: [string, (m: Made) => boolean][] = [
    ...STATUSES.map((s): [string, (m: Made) => boolean] => [`status=${s}`, (m) => m.status === s]),
    ...PRIORITIES.map((p): [string, (m: Made) => boolean] => [`priority=${p}`, (m) => m.priority === p]),
    ["status=open&priority=high", (m) => m.status === "open" && m.priority === "high"],
    ["status=closed&priority=low", (m) => m.status === "closed" && m.priority === "low"],
  ];
  for (const [query, keep] of cases) {
    test(`${query}: both walks list exactly the matching tickets in order, and Links keep the filter`, async () => {
      const all = expectedOrder(made[a.key]!);
      const expected = expectedOrder(made[a.key]!.filter(keep));
      expect(expected.length).toBeGreaterThan(0);
      const byPage = await walk(`/v1/tickets?${query}&per_page=3`, a.key);
      expect(byPage.ids).toEqual(expected);
      // Start the keyset walk from the newest ticket of the org, which may not match the filter itself.
      const byCursor = await walk(`/v1/tickets?${query}&per_page=3&starting_after=${all[0]}`, a.key);
      expect(byCursor.ids).toEqual(expected.filter((id) => id !== all[0]));
      for (const l of [...byPage.links, ...byCursor.links]) expect(l).toStartWith(`${PUBLIC_URL}/v1/tickets?${query}&per_page=3&`);
      for (const p of [...byPage.pages, ...byCursor.pages]) expect(p.meta.total).toBe(expected.length);
    });
  }
});

describe("errors", () => {
  const validationOf = async (res: Response) => {
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: string; message: string; details: { field: string; message: string }[] };
    expect(body.error).toBe("validation_error");
    expect(body.message).toBeString();
    expect(body.details.map((d) => d.field)).toEqual(["starting_after"]);
    return body;
  };

  test("an unknown id, or something that is not an id at all, is 400 validation_error on starting_after", async () => {
    for (const bad of ["tkt_0000000000000000", "nope", "%20", "tkt_"]) {
      await validationOf(await env.request(`/v1/tickets?starting_after=${bad}`, { key: a.key }));
    }
  });

  test("an empty starting_after is 400 too", async () => {
    await validationOf(await env.request(`/v1/tickets?starting_after=`, { key: a.key }));
  });

  test("a ticket id of another organization is 400, exactly like an unknown one", async () => {
    const other = await env.request(`/v1/tickets?starting_after=${made[b.key]![0]!.id}`, { key: a.key });
    const unknown = await env.request(`/v1/tickets?starting_after=tkt_0000000000000000`, { key: a.key });
    const bodyOther = await validationOf(other);
    const bodyUnknown = await validationOf(unknown);
    expect(bodyOther).toEqual(bodyUnknown);
  });

  test("page other than 1 with starting_after is 400; page=1 with it is the keyset page", async () => {
    const first = expectedOrder(made[a.key]!)[0]!;
    await validationOf(await env.request(`/v1/tickets?page=2&starting_after=${first}`, { key: a.key }));
    const ok = await env.request(`/v1/tickets?page=1&per_page=5&starting_after=${first}`, { key: a.key });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as ListBody).data.map((t) => t.id)).toEqual(expectedOrder(made[a.key]!).slice(1, 6));
  });

  test("filters and per_page are still validated in keyset mode", async () => {
    const first = expectedOrder(made[a.key]!)[0]!;
    expect((await env.request(`/v1/tickets?status=bogus&starting_after=${first}`, { key: a.key })).status).toBe(400);
    expect((await env.request(`/v1/tickets?per_page=101&starting_after=${first}`, { key: a.key })).status).toBe(400);
  });

  test("without a valid key, starting_after is never looked at: 401", async () => {
    const res = await env.request(`/v1/tickets?starting_after=${made[a.key]![0]!.id}`, {});
    expect(res.status).toBe(401);
  });
});

describe("isolation", () => {
  test("org B's keyset walk lists exactly its own tickets, though A's are interleaved in time", async () => {
    const expected = expectedOrder(made[b.key]!);
    const walked = await walk(`/v1/tickets?per_page=2&starting_after=${expected[0]}`, b.key);
    expect(walked.ids).toEqual(expected.slice(1));
    const aIds = new Set(made[a.key]!.map((m) => m.id));
    expect(walked.ids.some((id) => aIds.has(id))).toBe(false);
    for (const p of walked.pages) expect(p.meta.total).toBe(expected.length);
  });

  test("org B cannot use org A's ticket as a cursor to read past it", async () => {
    const aNewest = expectedOrder(made[a.key]!)[0]!;
    const res = await env.request(`/v1/tickets?starting_after=${aNewest}`, { key: b.key });
    expect(res.status).toBe(400);
  });
});
