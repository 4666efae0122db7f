// The ticket search store contract (filters, sorts, keyset, counts, full-text search over the tickets' texts), written against the interface so every engine runs it unchanged.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { newId } from "../../src/lib/ids";
import { parseSearchQuery } from "../../src/tickets/search-query";
import { PRIORITY_RANK, type SortKey, type TicketQuery, type TicketSort } from "../../src/tickets/search-sql";
import type { ListedRow, TicketSearchStore } from "../../src/tickets/search-store";
import type { TicketRow, TicketStore } from "../../src/tickets/store";
import { compareIds, type Open, type Opened, type SeededOrg, T0 } from "./fixtures";

/** What the suite runs against: the search store, and the tickets store that writes the rows it reads. */
export interface TicketSearchUnderTest {
  ticketSearch: TicketSearchStore;
  tickets: TicketStore;
}

const SORTS: TicketSort[] = [
  { field: "created_at", desc: true },
  { field: "created_at", desc: false },
  { field: "updated_at", desc: true },
  { field: "updated_at", desc: false },
  { field: "priority", desc: true },
  { field: "priority", desc: false },
];
const PRIORITIES = ["low", "medium", "high", "urgent"] as const;
const STATUSES = ["open", "in_progress", "resolved", "closed"] as const;
const WORDS = ["refund", "invoice", "printer", "login", "café"];

function sortValue(r: TicketRow, sort: TicketSort): number {
  return sort.field === "created_at" ? r.created_at : sort.field === "updated_at" ? r.updated_at : PRIORITY_RANK[r.priority];
}
function order(rows: TicketRow[], sort: TicketSort): string[] {
  const sign = sort.desc ? -1 : 1;
  return [...rows].sort((x, y) => sign * (sortValue(x, sort) - sortValue(y, sort) || compareIds(x.id, y.id))).map((r) => r.id);
}

export function describeTicketSearchStoreContract(engineName: string, open: Open<TicketSearchUnderTest>) {
  describe(`ticket search store contract (${engineName})`, () => {
    let w: Opened<TicketSearchUnderTest>;
    let store: TicketSearchStore;
    let a: SeededOrg;
    let b: SeededOrg;
    let rows: TicketRow[];
    beforeEach(async () => {
      w = await open();
      store = w.store.ticketSearch;
      a = await w.seed.org("A");
      b = await w.seed.org("B");
      rows = [];
      for (let i = 0; i < 30; i++) {
        const at = T0 + Math.floor(i / 3) * 1000;
        const r: TicketRow = {
          id: newId("tkt"),
          org_id: a.orgId,
          subject: `${WORDS[i % 5]} number ${i}`,
          description: i % 2 ? `about the ${WORDS[(i + 1) % 5]}` : null,
          status: STATUSES[i % 4]!,
          priority: PRIORITIES[(i * 3) % 4]!,
          created_by: null,
          created_at: at,
          updated_at: at + (i % 7) * 100,
          requester_id: null,
          assignee_id: i % 2 ? a.userId : null,
          tags: i % 3 ? '["vip"]' : "[]",
          custom_fields: i % 4 ? `{"n":${i % 4}}` : "{}",
        };
        await w.store.tickets.insert(r);
        rows.push(r);
        // B holds the same texts, tags and values: never found, counted or ordered with A's.
        await w.store.tickets.insert({ ...r, id: newId("tkt"), org_id: b.orgId, assignee_id: i % 2 ? b.userId : null });
      }
    });
    afterEach(() => w.close());

    async function walkAfter(q: TicketQuery, sort: TicketSort, key: (r: ListedRow) => SortKey, per: number): Promise<string[]> {
      const out: string[] = [];
      let after: SortKey | null = null;
      for (let i = 0; i < 100; i++) {
        const page: ListedRow[] = after ? await store.pageAfter(a.orgId, q, sort, after, per) : await store.page(a.orgId, q, sort, per, 0);
        out.push(...page.map((r) => r.id));
        if (page.length < per) return out;
        after = key(page.at(-1)!);
      }
      throw new Error("no end");
    }

    for (const sort of SORTS) {
      test(`sort ${sort.desc ? "-" : ""}${sort.field}: offset and keyset pages in order, ties by id; rows are the tickets' rows`, async () => {
        const expected = order(rows, sort);
        const offset: string[] = [];
        for (let p = 0; p < 5; p++) offset.push(...(await store.page(a.orgId, {}, sort, 7, p * 7)).map((r) => r.id));
        expect(offset).toEqual(expected);
        expect(await walkAfter({}, sort, (r) => ({ value: sortValue(r, sort), id: r.id }), 4)).toEqual(expected);
        const [first] = await store.page(a.orgId, {}, sort, 1, 0);
        const { search_score, ...row } = first!;
        expect(search_score).toBe(0);
        expect(row).toEqual(rows.find((r) => r.id === first!.id)!);
      });
    }

    test("filters: statuses, priorities, assignee (or none), tags, custom values, time bounds (exclusive); counts exact", async () => {
      const cases: [TicketQuery, (r: TicketRow) => boolean][] = [
        [{ status: ["open", "closed"] }, (r) => r.status === "open" || r.status === "closed"],
        [{ priority: ["urgent"] }, (r) => r.priority === "urgent"],
        [{ status: ["open"], priority: ["low", "high"] }, (r) => r.status === "open" && (r.priority === "low" || r.priority === "high")],
        [{ assignee: null }, (r) => r.assignee_id === null],
        [{ assignee: a.userId }, (r) => r.assignee_id === a.userId],
        [{ tags: ["vip"] }, (r) => r.tags.includes("vip")],
        [{ tags: ["vip"], status: ["resolved"] }, (r) => r.tags.includes("vip") && r.status === "resolved"],
        [{ custom: [{ key: "n", value: 2 }] }, (r) => r.custom_fields === '{"n":2}'],
        [{ createdAfter: T0 + 3000 }, (r) => r.created_at > T0 + 3000],
        [{ updatedBefore: T0 + 2300, updatedAfter: T0 }, (r) => r.updated_at < T0 + 2300 && r.updated_at > T0],
      ];
      for (const [q, keep] of cases) {
        const expected = order(rows.filter(keep), SORTS[0]!);
        expect({ q, ids: (await store.page(a.orgId, q, SORTS[0]!, 100, 0)).map((r) => r.id) }).toEqual({ q, ids: expected });
        expect({ q, total: await store.count(a.orgId, q) }).toEqual({ q, total: expected.length });
      }
    });

    test("search: the organization's tickets whose texts hold every word; count and score; another organization never", async () => {
      const text = parseSearchQuery("refund");
      const expected = rows.filter((r) => `${r.subject} ${r.description ?? ""}`.includes("refund"));
      expect(expected.length).toBeGreaterThan(3);
      const found = await store.page(a.orgId, { text }, SORTS[0]!, 100, 0);
      expect(found.map((r) => r.id)).toEqual(order(expected, SORTS[0]!));
      expect(await store.count(a.orgId, { text })).toBe(expected.length);
      // The dense plan (an index walk) finds the same tickets in the same order.
      expect(await walkAfter({ text }, SORTS[1]!, (r) => ({ value: r.created_at, id: r.id }), 3)).toEqual(order(expected, SORTS[1]!));
      const best = await store.page(a.orgId, { text }, { field: "relevance", desc: true }, 100, 0);
      expect(best.map((r) => r.id).sort()).toEqual(expected.map((r) => r.id).sort());
      for (let i = 1; i < best.length; i++) expect(best[i - 1]!.search_score).toBeGreaterThanOrEqual(best[i]!.search_score);
      expect(await store.score(a.orgId, text, best[0]!.id)).toBe(best[0]!.search_score);
      expect(await store.score(a.orgId, text, rows.find((r) => !expected.includes(r))!.id)).toBe(0);
      const both = parseSearchQuery("refund -invoice café*");
      expect(await store.count(a.orgId, { text: both })).toBe(
        rows.filter((r) => {
          const t = `${r.subject} ${r.description ?? ""}`;
          return t.includes("refund") && !t.includes("invoice") && t.includes("café");
        }).length,
      );
    });

    test("changes are searched as they are written: an update's new text, a removed ticket gone", async () => {
      const r = rows.find((x) => x.subject.startsWith("printer"))!;
      await w.store.tickets.update(r, { ...r, subject: "zeppelin landing", updated_at: r.updated_at + 1 });
      const zeppelin = parseSearchQuery("zeppelin");
      expect((await store.page(a.orgId, { text: zeppelin }, SORTS[0]!, 10, 0)).map((x) => x.id)).toEqual([r.id]);
      expect(await store.count(b.orgId, { text: zeppelin })).toBe(0);
      await w.store.tickets.remove({ ...r, subject: "zeppelin landing" });
      expect(await store.count(a.orgId, { text: zeppelin })).toBe(0);
      expect(await store.page(a.orgId, { text: zeppelin }, SORTS[0]!, 10, 0)).toEqual([]);
    });

    test("a position needs no ticket: a keyset page after a made-up position is the rows that follow it", async () => {
      const sort = SORTS[0]!;
      const expected = order(rows, sort).filter((id) => {
        const r = rows.find((x) => x.id === id)!;
        return r.created_at < T0 + 5000 || (r.created_at === T0 + 5000 && compareIds(r.id, "tkt_zzz") < 0);
      });
      expect((await store.pageAfter(a.orgId, {}, sort, { value: T0 + 5000, id: "tkt_zzz" }, 100)).map((r) => r.id)).toEqual(expected);
    });
  });
}
