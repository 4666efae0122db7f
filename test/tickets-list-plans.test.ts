// EXPLAIN guards for GET /v1/tickets: every filter and sort a sync uses, tag + status + updated_at, counts and searches are served by an index (no scan of the organization's tickets), on each engine.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { parseSearchQuery } from "../src/tickets/search-query";
import { type Built, countSql, type Dialect, pageSql, type TicketQuery, type TicketSort } from "../src/tickets/search-sql";
import { createTestEnv, type TestEnv } from "./helpers";

let env: TestEnv;
let orgId: string;

beforeAll(async () => {
  env = await createTestEnv();
  const org = await env.org("Acme", "pro");
  orgId = org.orgId;
  for (let i = 0; i < 5; i++) {
    const res = await env.request("/v1/tickets", { method: "POST", key: org.key, json: { subject: `refund ${i}` } });
    expect(res.status).toBe(201);
  }
});
afterAll(() => env.close());

/**
 * The plan of a statement: SQLite's EXPLAIN QUERY PLAN details; PostgreSQL's EXPLAIN with sequential scans off in the
 * test's transaction (the tables are tiny: the check is that an index can serve it, not the planner's choice at size).
 */
async function plan(b: Built): Promise<string> {
  const d = env.database;
  if (d.engine === "sqlite") {
    const rows = d.db.$client.query(`EXPLAIN QUERY PLAN ${b.sql}`).all(...b.params) as { detail: string }[];
    return rows.map((r) => r.detail).join("\n");
  }
  return await d.sql.begin(async (tx) => {
    await tx`SET LOCAL enable_seqscan = off`;
    const rows = await tx.unsafe(`EXPLAIN ${b.sql}`, b.params as never[]);
    return rows.map((r) => (r as Record<string, string>)["QUERY PLAN"]).join("\n");
  });
}

const dialect = (): Dialect => (env.engine === "sqlite" ? "sqlite" : "postgres");
const page = (q: TicketQuery, sort: TicketSort, after = false) =>
  pageSql(dialect(), orgId, q, sort, 26, after ? { after: { value: Date.now(), id: "tkt_x" } } : { offset: 0 });

/** The plan walks `index` (a name, or a pattern of names), scans no table without an index, and (for pages) sorts nothing. */
function expectServedBy(p: string, index: string, opts: { sorted?: boolean } = {}) {
  if (env.engine === "sqlite") {
    expect(p).toMatch(new RegExp(`INDEX ${index}\\b`));
    expect(p).not.toMatch(/SCAN (t|g|tickets|ticket_tags)\b(?! USING)/);
    if (!opts.sorted) expect(p).not.toContain("TEMP B-TREE FOR ORDER BY");
  } else {
    expect(p).toMatch(new RegExp(`(Index|Index Only|Bitmap Index) Scan (Backward )?(using|on) ${index}\\b`));
    expect(p).not.toContain("Seq Scan on tickets");
    expect(p).not.toContain("Seq Scan on ticket_tags");
    if (!opts.sorted) expect(p).not.toMatch(/Sort Key/);
  }
}

const since = Date.UTC(2026, 0, 1);

describe("a sync's walk: updated_after + sort=updated_at", () => {
  test("page and cursor page walk tickets_org_updated in order", async () => {
    for (const after of [false, true])
      expectServedBy(await plan(page({ updatedAfter: since }, { field: "updated_at", desc: false }, after)), "tickets_org_updated");
  });

  test("with a status: tickets_org_status_updated in order (a cursor page may seek tickets_org_updated instead: in order too)", async () => {
    expectServedBy(await plan(page({ updatedAfter: since, status: ["open"] }, { field: "updated_at", desc: false })), "tickets_org_status_updated");
    const keyset = await plan(page({ updatedAfter: since, status: ["open"] }, { field: "updated_at", desc: false }, true));
    expectServedBy(keyset, /tickets_org_status_updated/.test(keyset) ? "tickets_org_status_updated" : "tickets_org_updated");
  });

  test("with several statuses: still an index of the organization's tickets, no table scan", async () => {
    const p = await plan(page({ updatedAfter: since, status: ["open", "closed"] }, { field: "updated_at", desc: false }));
    expect(p).toMatch(/tickets_org_(status_)?updated/);
    expect(p).not.toContain("Seq Scan on tickets");
    expect(p).not.toMatch(/SCAN t\b(?! USING)/);
  });

  test("its count is a count over the same index", async () => {
    expectServedBy(await plan(countSql(dialect(), orgId, { updatedAfter: since })), "tickets_org_(status_)?updated", { sorted: true });
    expectServedBy(await plan(countSql(dialect(), orgId, { updatedAfter: since, status: ["open"] })), "tickets_org_status_updated", { sorted: true });
  });
});

describe("tag + status + sort=updated_at: one walk of ticket_tags_org_tag_status_updated", () => {
  test("page and cursor page", async () => {
    for (const after of [false, true]) {
      for (const desc of [false, true]) {
        expectServedBy(await plan(page({ tags: ["vip"], status: ["open"] }, { field: "updated_at", desc }, after)), "ticket_tags_org_tag_status_updated");
      }
    }
  });

  test("with updated_after too, and its count (the index alone, no ticket row)", async () => {
    expectServedBy(
      await plan(page({ tags: ["vip"], status: ["open"], updatedAfter: since }, { field: "updated_at", desc: false })),
      "ticket_tags_org_tag_status_updated",
    );
    const count = await plan(countSql(dialect(), orgId, { tags: ["vip"], status: ["open"] }));
    expectServedBy(count, "ticket_tags_org_tag_status_updated", { sorted: true });
    expect(count).not.toMatch(/tickets_pkey|sqlite_autoindex_tickets_1/);
  });

  test("a tag with sort=created_at walks ticket_tags_org_tag_created", async () => {
    expectServedBy(await plan(page({ tags: ["vip"] }, { field: "created_at", desc: true })), "ticket_tags_org_tag_created");
  });
});

describe("the default list and its filters", () => {
  test("newest first: tickets_org_created; status: tickets_org_status_created; assignee: tickets_org_assignee_created", async () => {
    expectServedBy(await plan(page({}, { field: "created_at", desc: true })), "tickets_org_created");
    expectServedBy(await plan(page({ status: ["open"] }, { field: "created_at", desc: true }, true)), "tickets_org_status_created");
    expectServedBy(await plan(page({ assignee: "user_x" }, { field: "created_at", desc: true })), "tickets_org_assignee_created");
    expectServedBy(await plan(page({ requester: "con_x" }, { field: "created_at", desc: true })), "tickets_org_requester_created");
  });
});

describe("a search reads the full-text index", () => {
  test("SQLite: the FTS5 table; PostgreSQL: the GIN index", async () => {
    const text = parseSearchQuery("refund -duplicate");
    for (const b of [
      page({ text }, { field: "created_at", desc: true }),
      page({ text }, { field: "relevance", desc: true }),
      countSql(dialect(), orgId, { text }),
    ]) {
      const p = await plan(b);
      if (env.engine === "sqlite") {
        expect(p).toContain("VIRTUAL TABLE INDEX");
        expect(p).not.toMatch(/SCAN (t|tickets)\b(?! USING)/);
      } else {
        expect(p).toContain("Bitmap Index Scan on ticket_search_doc");
        expect(p).not.toContain("Seq Scan");
      }
    }
  });

  test("a dense search's time-sorted page walks tickets_org_created", async () => {
    const b = pageSql(dialect(), orgId, { text: parseSearchQuery("refund") }, { field: "created_at", desc: true }, 26, { offset: 0 }, true);
    expectServedBy(await plan(b), "tickets_org_created");
  });
});
