// The tickets store contract (tickets and their kept counts), written against the interface so every engine runs it unchanged.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { TICKET_PRIORITIES, TICKET_STATUSES, type TicketPriority, type TicketStatus } from "../../src/db/schema/tickets";
import { newId } from "../../src/lib/ids";
import type { TicketFilter, TicketRow, TicketStore } from "../../src/tickets/store";
import { parseTags } from "../../src/tickets/tags";
import type { Writer } from "../../src/db/writer";
import { seededRandom } from "../helpers";
import { CONCURRENCY, settle, warmUp } from "./concurrent";
import { expectSameRow, newestFirst, type Open, type Opened, type SeededOrg, T0, TEXTS } from "./fixtures";

const order = newestFirst<TicketRow>((r) => r.created_at);

/** Every filter the list offers: none, each status, each priority, and each pair. */
const FILTERS: TicketFilter[] = [
  {},
  ...TICKET_STATUSES.map((status) => ({ status })),
  ...TICKET_PRIORITIES.map((priority) => ({ priority })),
  ...TICKET_STATUSES.flatMap((status) => TICKET_PRIORITIES.map((priority) => ({ status, priority }))),
];
const matches = (f: TicketFilter) => (r: TicketRow) => (!f.status || r.status === f.status) && (!f.priority || r.priority === f.priority);

/** What the suite runs against: the store outside a unit (committed rows), and the engine's writer whose units get it bound to their transaction. */
export interface TicketsUnderTest {
  tickets: TicketStore;
  writer: Writer<{ tickets: TicketStore }>;
}

export function describeTicketsStoreContract(engineName: string, open: Open<TicketsUnderTest>) {
  describe(`tickets store contract (${engineName})`, () => {
    let w: Opened<TicketsUnderTest>;
    let store: TicketStore;
    let writer: Writer<{ tickets: TicketStore }>;
    let a: SeededOrg;
    let b: SeededOrg;
    beforeEach(async () => {
      w = await open();
      store = w.store.tickets;
      writer = w.store.writer;
      a = await w.seed.org("A");
      b = await w.seed.org("B");
    });
    afterEach(() => w.close());

    const row = (org: SeededOrg, over: Partial<TicketRow> = {}): TicketRow => ({
      id: newId("tkt"),
      org_id: org.orgId,
      subject: "Printer on fire",
      description: null,
      status: "open",
      priority: "medium",
      created_by: null,
      created_at: T0,
      updated_at: T0,
      requester_id: null,
      assignee_id: null,
      tags: "[]",
      custom_fields: "{}",
      ...over,
    });
    const all = async (orgId: string, f: TicketFilter = {}) => await store.page(orgId, f, 10_000, 0);
    /** Asserts every kept total equals what the pages show, for every filter. */
    const expectCountsExact = async (orgId: string, expected: TicketRow[]) => {
      for (const f of FILTERS) {
        const want = expected.filter(matches(f)).sort(order);
        expect({ f, total: await store.total(orgId, f) }).toEqual({ f, total: want.length });
        expect((await all(orgId, f)).map((r) => r.id)).toEqual(want.map((r) => r.id));
      }
    };

    test("insert then get returns every field exactly: Unicode text, null and set description and author, millisecond times", async () => {
      const rows = TEXTS.map((text, i) =>
        row(a, {
          subject: text,
          description: i % 2 ? null : `${text}\n\n${TEXTS[(i + 1) % TEXTS.length]}`,
          status: TICKET_STATUSES[i % 4]!,
          priority: TICKET_PRIORITIES[(i + 1) % 4]!,
          created_by: i % 3 ? a.userId : null,
          created_at: T0 + i,
          updated_at: T0 + i * 1000 + 7,
        }),
      );
      rows.push(row(a, { created_at: 0, updated_at: Date.UTC(2199, 11, 31, 23, 59, 59, 999) }));
      for (const r of rows) await store.insert(r);
      for (const r of rows) expectSameRow(await store.get(r.id, a.orgId), r);
      const listed = await all(a.orgId);
      expect(listed.length).toBe(rows.length);
      for (const r of listed) expectSameRow(r, rows.find((x) => x.id === r.id)!);
    });

    test("get of an unknown id, or of another organization's ticket, is null", async () => {
      const t = row(b);
      await store.insert(t);
      expect(await store.get(newId("tkt"), a.orgId)).toBeNull();
      expect(await store.get(t.id, a.orgId)).toBeNull();
      expectSameRow(await store.get(t.id, b.orgId), t);
    });

    test("pages are newest first, ties on created_at broken by id descending; offset pages tile the list", async () => {
      const rows: TicketRow[] = [];
      // Three tickets per millisecond: most neighbours tie on created_at.
      for (let i = 0; i < 23; i++) rows.push(row(a, { created_at: T0 + Math.floor(i / 3) }));
      for (const r of [...rows].reverse()) await store.insert(r);
      const want = [...rows].sort(order).map((r) => r.id);
      expect((await all(a.orgId)).map((r) => r.id)).toEqual(want);
      for (const size of [1, 2, 5, 7]) {
        const seen: string[] = [];
        for (let off = 0; off < want.length + size; off += size) seen.push(...(await store.page(a.orgId, {}, size, off)).map((r) => r.id));
        expect(seen).toEqual(want);
      }
      expect(await store.page(a.orgId, {}, 10, want.length)).toEqual([]);
    });

    test("keyset pages (pageAfter) walk the same order as offset pages, through runs of equal timestamps", async () => {
      const rows: TicketRow[] = [];
      for (let i = 0; i < 20; i++) rows.push(row(a, { created_at: T0 + Math.floor(i / 4), status: i % 2 ? "open" : "closed" }));
      for (const r of rows) await store.insert(r);
      for (const f of [{}, { status: "open" as const }]) {
        const want = rows
          .filter(matches(f))
          .sort(order)
          .map((r) => r.id);
        for (const size of [1, 3, 4]) {
          const seen: string[] = [];
          let page = await store.page(a.orgId, f, size, 0);
          while (page.length) {
            seen.push(...page.map((r) => r.id));
            const last = page.at(-1)!;
            page = await store.pageAfter(a.orgId, f, { created_at: last.created_at, id: last.id }, size);
          }
          expect(seen).toEqual(want);
        }
      }
      // After the very last row: nothing.
      const last = [...rows].sort(order).at(-1)!;
      expect(await store.pageAfter(a.orgId, {}, last, 5)).toEqual([]);
    });

    test("filters by status, priority and both; totals match the filtered pages", async () => {
      const rows: TicketRow[] = [];
      let i = 0;
      for (const status of TICKET_STATUSES)
        for (const priority of TICKET_PRIORITIES) for (let n = 0; n <= i % 3; n++) rows.push(row(a, { status, priority, created_at: T0 + i++ }));
      for (const r of rows) await store.insert(r);
      await expectCountsExact(a.orgId, rows);
    });

    test("counts stay exact through a seeded run of inserts, updates (with and without status/priority changes) and deletes", async () => {
      const rnd = seededRandom(11);
      const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
      const live = new Map<string, TicketRow>();
      for (let step = 0; step < 60; step++) {
        const r = rnd();
        if (live.size === 0 || r < 0.45) {
          const t = row(a, { status: pick(TICKET_STATUSES), priority: pick(TICKET_PRIORITIES), created_at: T0 + step });
          await store.insert(t);
          live.set(t.id, t);
        } else if (r < 0.8) {
          const before = (await store.get(pick([...live.keys()]), a.orgId))!;
          const after: TicketRow = {
            ...before,
            subject: `${before.subject}!`,
            status: rnd() < 0.5 ? before.status : pick(TICKET_STATUSES),
            priority: rnd() < 0.5 ? before.priority : pick(TICKET_PRIORITIES),
            updated_at: before.updated_at + 1,
          };
          await store.update(before, after);
          live.set(after.id, after);
        } else {
          const before = (await store.get(pick([...live.keys()]), a.orgId))!;
          await store.remove(before);
          live.delete(before.id);
          expect(await store.get(before.id, a.orgId)).toBeNull();
        }
        if (step % 6 === 5) await expectCountsExact(a.orgId, [...live.values()]);
      }
      await expectCountsExact(a.orgId, [...live.values()]);
    });

    test("update writes subject, description, status, priority and updated_at; created_at and created_by stay", async () => {
      const before = row(a, { description: "was", created_by: a.userId });
      await store.insert(before);
      const after: TicketRow = { ...before, subject: TEXTS[1], description: null, status: "resolved", priority: "urgent", updated_at: T0 + 86_400_123 };
      await store.update(before, after);
      expectSameRow(await store.get(before.id, a.orgId), after);
      const back: TicketRow = { ...after, description: TEXTS[2], updated_at: after.updated_at + 1 };
      await store.update(after, back);
      expectSameRow(await store.get(before.id, a.orgId), back);
    });

    test("organizations are isolated: another organization's tickets are never listed, counted, updated or deleted", async () => {
      const mine = [row(a, { status: "open" }), row(a, { status: "closed", created_at: T0 + 1 })];
      const theirs = [row(b, { status: "open", created_at: T0 + 2 }), row(b, { status: "open", priority: "high", created_at: T0 + 3 })];
      for (const r of [...mine, ...theirs]) await store.insert(r);
      await expectCountsExact(a.orgId, mine);
      await expectCountsExact(b.orgId, theirs);
      // An update or delete addressed with org A never touches B's row (the id is B's, the organization A's).
      const victim = theirs[0]!;
      await store.update({ ...victim, org_id: a.orgId }, { ...victim, org_id: a.orgId, subject: "hijacked", status: "open" });
      await store.remove({ ...victim, org_id: a.orgId, status: "open" });
      expectSameRow(await store.get(victim.id, b.orgId), victim);
      await expectCountsExact(b.orgId, theirs);
      // ...and moves no count of A's either: a write that matched no row reports so and changes nothing.
      await expectCountsExact(a.orgId, mine);
      // An organization with no tickets counts zero everywhere.
      const c = await w.seed.org("C");
      await expectCountsExact(c.orgId, []);
    });

    test("update and remove report whether a row changed; removing twice or updating a deleted ticket moves no count", async () => {
      const t = row(a, { status: "open" });
      const other = row(a, { status: "open", created_at: T0 + 1 });
      await store.insert(t);
      await store.insert(other);
      expect(await store.remove(t)).toBe(true);
      expect(await store.remove(t)).toBe(false);
      expect(await store.update(t, { ...t, status: "closed", updated_at: T0 + 5 })).toBe(false);
      await expectCountsExact(a.orgId, [other]);
    });

    test("a status or priority change moves the ticket between filtered totals", async () => {
      const t = row(a, { status: "open" as TicketStatus, priority: "low" as TicketPriority });
      await store.insert(t);
      const moved: TicketRow = { ...t, status: "closed", priority: "urgent", updated_at: t.updated_at + 1 };
      await store.update(t, moved);
      expect(await store.total(a.orgId, { status: "open" })).toBe(0);
      expect(await store.total(a.orgId, { priority: "low" })).toBe(0);
      expect(await store.total(a.orgId, { status: "closed", priority: "urgent" })).toBe(1);
      expect(await store.total(a.orgId, {})).toBe(1);
      await store.remove(moved);
      expect(await store.total(a.orgId, {})).toBe(0);
      expect(await store.total(a.orgId, { status: "closed" })).toBe(0);
    });

    test("a looked-up id holding U+0000 (or a lone surrogate) matches nothing, and is no error", async () => {
      const t = row(a);
      await store.insert(t);
      for (const id of [`${t.id}\0`, "tkt_\0", "\0", "tkt_\uD800"]) expect(await store.get(id, a.orgId)).toBeNull();
      expectSameRow(await store.get(t.id, a.orgId), t);
    });

    /** The ticket's ticket_tags rows are exactly its tags, each with its status and times. */
    const expectTagsInStep = async (t: TicketRow) => {
      const want = parseTags(t.tags).map((tag) => ({
        org_id: t.org_id,
        tag,
        ticket_id: t.id,
        status: t.status,
        created_at: t.created_at,
        updated_at: t.updated_at,
      }));
      const rows = await store.tagRows(t.id, t.org_id);
      expect(rows.map((r) => ({ ...r }))).toEqual(want);
      for (const r of rows) expectSameRow(r, want.find((x) => x.tag === r.tag)!);
    };
    const tags = (...names: string[]) => JSON.stringify(names.sort());

    describe("tags (ticket_tags rows in step with the ticket)", () => {
      test("insert writes one row per tag with the ticket's status and times; a ticket without tags has none", async () => {
        const tagged = row(a, { tags: tags("billing", "vip:gold", "a-b_c"), status: "in_progress", created_at: T0 + 5, updated_at: T0 + 9 });
        const plain = row(a, { created_at: T0 + 6 });
        await store.insert(tagged);
        await store.insert(plain);
        expectSameRow(await store.get(tagged.id, a.orgId), tagged);
        await expectTagsInStep(tagged);
        expect(await store.tagRows(plain.id, a.orgId)).toEqual([]);
      });

      test("update makes the rows the new set (added, removed, kept) and copies status and updated_at to every row", async () => {
        const t = row(a, { tags: tags("one", "two"), assignee_id: null });
        await store.insert(t);
        const steps: Partial<TicketRow>[] = [
          { tags: tags("one", "two", "three") },
          { tags: tags("three"), status: "resolved" },
          { status: "closed", priority: "urgent" },
          { subject: "only the subject (and updated_at)" },
          { tags: "[]" },
          { tags: tags("back"), status: "open" },
          { assignee_id: a.userId, custom_fields: '{"order_id":"A-1","size":3}' },
          { assignee_id: null, custom_fields: "{}" },
        ];
        let before = t;
        for (const [i, change] of steps.entries()) {
          const after: TicketRow = { ...before, ...change, updated_at: before.updated_at + 1000 + i };
          expect(await store.update(before, after)).toBe(true);
          expectSameRow(await store.get(t.id, a.orgId), after);
          await expectTagsInStep(after);
          before = after;
        }
        await expectCountsExact(a.orgId, [before]);
      });

      test("touch moves the rows' updated_at with the ticket's, never back; remove takes the rows with the ticket", async () => {
        const t = row(a, { tags: tags("x", "y"), updated_at: T0 + 100 });
        const plain = row(a, { updated_at: T0 + 100, created_at: T0 + 1 });
        await store.insert(t);
        await store.insert(plain);
        expect(await store.touch(t.id, a.orgId, T0 + 500)).toBe(true);
        await expectTagsInStep({ ...t, updated_at: T0 + 500 });
        expect(await store.touch(t.id, a.orgId, T0 + 200)).toBe(true);
        await expectTagsInStep({ ...t, updated_at: T0 + 500 });
        expect(await store.touch(plain.id, a.orgId, T0 + 300)).toBe(true);
        expect((await store.get(plain.id, a.orgId))!.updated_at).toBe(T0 + 300);
        expect(await store.touch(newId("tkt"), a.orgId, T0 + 600)).toBe(false);
        expect(await store.remove({ ...t, updated_at: T0 + 500 })).toBe(true);
        expect(await store.tagRows(t.id, a.orgId)).toEqual([]);
        expect(await store.tagTotal(a.orgId, "")).toBe(0);
      });

      test("tagPage and tagTotal count tickets per tag in name order, by prefix, by page; other organizations' tags never show", async () => {
        const mine = [
          row(a, { tags: tags("billing", "bug") }),
          row(a, { tags: tags("billing"), created_at: T0 + 1 }),
          row(a, { tags: tags("billing", "b:vip", "refund"), created_at: T0 + 2 }),
          row(a, { created_at: T0 + 3 }),
        ];
        const theirs = [row(b, { tags: tags("billing", "secret", "bz") })];
        for (const r of [...mine, ...theirs]) await store.insert(r);
        const all = [
          { name: "b:vip", ticket_count: 1 },
          { name: "billing", ticket_count: 3 },
          { name: "bug", ticket_count: 1 },
          { name: "refund", ticket_count: 1 },
        ];
        expect(await store.tagPage(a.orgId, "", 100, 0)).toEqual(all);
        expect(await store.tagTotal(a.orgId, "")).toBe(4);
        expect(await store.tagPage(a.orgId, "", 2, 1)).toEqual(all.slice(1, 3));
        expect(await store.tagPage(a.orgId, "", 2, 4)).toEqual([]);
        expect(await store.tagPage(a.orgId, "b", 100, 0)).toEqual(all.slice(0, 3));
        expect(await store.tagTotal(a.orgId, "b")).toBe(3);
        expect(await store.tagPage(a.orgId, "bi", 100, 0)).toEqual([all[1]]);
        expect(await store.tagPage(a.orgId, "billing", 100, 0)).toEqual([all[1]]);
        expect(await store.tagPage(a.orgId, "billings", 100, 0)).toEqual([]);
        expect(await store.tagTotal(a.orgId, "secret")).toBe(0);
        expect(await store.tagPage(b.orgId, "", 100, 0)).toEqual([
          { name: "billing", ticket_count: 1 },
          { name: "bz", ticket_count: 1 },
          { name: "secret", ticket_count: 1 },
        ]);
        // A status change or deletion moves the counts at once.
        await store.remove(mine[0]!);
        expect(await store.tagPage(a.orgId, "b", 100, 0)).toEqual([
          { name: "b:vip", ticket_count: 1 },
          { name: "billing", ticket_count: 2 },
        ]);
      });

      test("isolation: an update or touch addressed with another organization changes no tag row", async () => {
        const victim = row(b, { tags: tags("theirs") });
        await store.insert(victim);
        expect(await store.update({ ...victim, org_id: a.orgId }, { ...victim, org_id: a.orgId, tags: tags("hijacked"), updated_at: T0 + 9 })).toBe(false);
        expect(await store.touch(victim.id, a.orgId, T0 + 99)).toBe(false);
        expectSameRow(await store.get(victim.id, b.orgId), victim);
        await expectTagsInStep(victim);
        expect(await store.tagTotal(a.orgId, "")).toBe(0);
        expect(await store.tagRows(victim.id, a.orgId)).toEqual([]);
      });

      test("getMany: the organization's tickets among the ids, in id order; unknown, foreign and U+0000 ids left out", async () => {
        const mine = Array.from({ length: 5 }, (_, i) => row(a, { created_at: T0 + i }));
        const theirs = row(b);
        for (const r of [...mine, theirs]) await store.insert(r);
        const ids = [mine[3]!.id, theirs.id, newId("tkt"), mine[0]!.id, `${mine[1]!.id}\0`, "tkt_\uD800", mine[4]!.id];
        const got = await store.getMany(ids, a.orgId);
        const want = [mine[3]!, mine[0]!, mine[4]!].sort((x, y) => (x.id < y.id ? -1 : 1));
        expect(got.map((r) => r.id)).toEqual(want.map((r) => r.id));
        for (const r of got) expectSameRow(r, want.find((x) => x.id === r.id)!);
        expect(await store.getMany([], a.orgId)).toEqual([]);
        expect(await store.getMany([theirs.id], a.orgId)).toEqual([]);
      });
    });

    describe("concurrency (units as services run them: read, then write, in one unit)", () => {
      beforeEach(() => warmUp(() => store.total(a.orgId, {})));

      /** updateTicket's unit: read the row, write the change over it. Null when the ticket is gone. */
      const edit = (id: string, change: (before: TicketRow) => Partial<TicketRow>) =>
        writer.write(async (tx) => {
          const before = await tx.tickets.get(id, a.orgId);
          if (!before) return null;
          const after: TicketRow = { ...before, ...change(before), updated_at: before.updated_at + 1 };
          expect(await tx.tickets.update(before, after)).toBe(true);
          return after;
        });

      test("concurrent units editing one ticket: each reads the row the previous one left, no edit is lost, every count stays exact", async () => {
        const t = row(a);
        const other = row(a, { status: "closed", priority: "high", created_at: T0 + 1 });
        await store.insert(t);
        await store.insert(other);
        const { fulfilled, rejected } = await settle(
          Array.from(
            { length: CONCURRENCY * 2 },
            (_, i) => () =>
              edit(t.id, (before) => ({
                subject: `${before.subject}|${i}`,
                status: TICKET_STATUSES[i % TICKET_STATUSES.length]!,
                priority: TICKET_PRIORITIES[(i * 3) % TICKET_PRIORITIES.length]!,
              })),
          ),
        );
        expect(rejected).toEqual([]);
        expect(fulfilled.every((r) => r !== null)).toBe(true);
        const final = (await store.get(t.id, a.orgId))!;
        // Every edit appended its mark to what it read, so all of them are there, once each.
        const marks = final.subject.split("|").slice(1).map(Number);
        expect([...marks].sort((x, y) => x - y)).toEqual(Array.from({ length: CONCURRENCY * 2 }, (_, i) => i));
        expect(final.updated_at).toBe(T0 + CONCURRENCY * 2);
        await expectCountsExact(a.orgId, [final, other]);
      });

      test("concurrent units adding different tags to one ticket (read, add, write): every tag lands, the rows stay in step", async () => {
        const t = row(a, { tags: tags("start") });
        await store.insert(t);
        const { rejected } = await settle(
          Array.from(
            { length: CONCURRENCY },
            (_, i) => () => edit(t.id, (before) => ({ tags: JSON.stringify([...parseTags(before.tags), `t${String(i).padStart(2, "0")}`].sort()) })),
          ),
        );
        expect(rejected).toEqual([]);
        const final = (await store.get(t.id, a.orgId))!;
        expect(parseTags(final.tags)).toEqual(["start", ...Array.from({ length: CONCURRENCY }, (_, i) => `t${String(i).padStart(2, "0")}`)]);
        await expectTagsInStep(final);
        expect(await store.tagTotal(a.orgId, "")).toBe(CONCURRENCY + 1);
      });

      test("concurrent opposite moves between the same two counts neither deadlock nor skew them, on the pool and in units", async () => {
        const rows: TicketRow[] = [];
        for (let i = 0; i < CONCURRENCY; i++) {
          rows.push(row(a, i % 2 ? { status: "open", priority: "low", created_at: T0 + i } : { status: "closed", priority: "urgent", created_at: T0 + i }));
        }
        for (const r of rows) await store.insert(r);
        const flip = (r: TicketRow): Partial<TicketRow> =>
          r.status === "open" ? { status: "closed", priority: "urgent" } : { status: "open", priority: "low" };
        for (let round = 0; round < 6; round++) {
          const { rejected } = await settle<unknown>(
            rows.map((r, i) =>
              i % 3 === 0
                ? async () => {
                    // On the pool: a read, then the update on its own (no unit around them).
                    const before = (await store.get(r.id, a.orgId))!;
                    expect(await store.update(before, { ...before, ...flip(before), updated_at: before.updated_at + 1 })).toBe(true);
                  }
                : () => edit(r.id, flip),
            ),
          );
          expect(rejected).toEqual([]);
        }
        const now = await all(a.orgId);
        expect(now.filter((r) => r.status === "open").length).toBe(CONCURRENCY / 2);
        await expectCountsExact(a.orgId, now);
      });

      test("concurrent deletes of one ticket: exactly one removes it and its count moves once; the others find it gone", async () => {
        const t = row(a);
        const other = row(a, { created_at: T0 + 1 });
        await store.insert(t);
        await store.insert(other);
        const { fulfilled, rejected } = await settle(
          Array.from({ length: CONCURRENCY }, (_, i) =>
            i % 2
              ? () => store.remove(t)
              : () =>
                  writer.write(async (tx) => {
                    const before = await tx.tickets.get(t.id, a.orgId);
                    return before ? await tx.tickets.remove(before) : false;
                  }),
          ),
        );
        expect(rejected).toEqual([]);
        expect(fulfilled.filter(Boolean).length).toBe(1);
        await expectCountsExact(a.orgId, [other]);
      });

      test("concurrent inserts into two organizations, on the pool and in units: every ticket is counted once", async () => {
        const rows = Array.from({ length: CONCURRENCY * 2 }, (_, i) =>
          row(i % 3 ? a : b, {
            status: TICKET_STATUSES[i % TICKET_STATUSES.length]!,
            priority: TICKET_PRIORITIES[Math.floor(i / 4) % TICKET_PRIORITIES.length]!,
            created_at: T0 + i,
          }),
        );
        const { rejected } = await settle(rows.map((r, i) => (i % 2 ? () => store.insert(r) : () => writer.write((tx) => tx.tickets.insert(r)))));
        expect(rejected).toEqual([]);
        await expectCountsExact(
          a.orgId,
          rows.filter((r) => r.org_id === a.orgId),
        );
        await expectCountsExact(
          b.orgId,
          rows.filter((r) => r.org_id === b.orgId),
        );
      });
    });
  });
}
