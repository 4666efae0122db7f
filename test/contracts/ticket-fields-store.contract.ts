// The ticket fields store contract (fields, key uniqueness, the field lock, removing a field's values from tickets), written against the interface so every engine runs it unchanged.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { Writer } from "../../src/db/writer";
import { newId } from "../../src/lib/ids";
import { customFieldsJson } from "../../src/ticket-fields/json";
import { TicketFieldKeyTaken, type TicketFieldRow, type TicketFieldStore } from "../../src/ticket-fields/store";
import type { TicketRow, TicketStore } from "../../src/tickets/store";
import { CONCURRENCY, settle, warmUp } from "./concurrent";
import { compareIds, expectSameRow, failure, type Open, type Opened, type SeededOrg, T0, TEXTS } from "./fixtures";

type Tx = { ticketFields: TicketFieldStore; tickets: TicketStore };

/** The store outside a unit (committed rows), the tickets store (rows carrying values), and the engine's writer. */
export interface TicketFieldsUnderTest {
  ticketFields: TicketFieldStore;
  tickets: TicketStore;
  writer: Writer<Tx>;
}

/** The list order: oldest first, then id ascending among equal times. */
const oldestFirst = (a: TicketFieldRow, b: TicketFieldRow) => a.created_at - b.created_at || compareIds(a.id, b.id);

export function describeTicketFieldsStoreContract(engineName: string, open: Open<TicketFieldsUnderTest>) {
  describe(`ticket fields store contract (${engineName})`, () => {
    let w: Opened<TicketFieldsUnderTest>;
    let store: TicketFieldStore;
    let tickets: TicketStore;
    let writer: Writer<Tx>;
    let a: SeededOrg;
    let b: SeededOrg;
    beforeEach(async () => {
      w = await open();
      store = w.store.ticketFields;
      tickets = w.store.tickets;
      writer = w.store.writer;
      a = await w.seed.org("A");
      b = await w.seed.org("B");
    }, 30_000);
    afterEach(() => w.close());

    let n = 0;
    const row = (org: SeededOrg, key: string, over: Partial<TicketFieldRow> = {}): TicketFieldRow => ({
      id: newId("tfd"),
      org_id: org.orgId,
      key,
      title: `Field ${key}`,
      type: "text",
      options: null,
      required: 0,
      created_at: T0 + n++,
      updated_at: T0 + n,
      ...over,
    });
    const put = async (r: TicketFieldRow) => {
      await store.insert(r);
      return r;
    };
    const ticketRow = (org: SeededOrg, customFields: string, over: Partial<TicketRow> = {}): TicketRow => ({
      id: newId("tkt"),
      org_id: org.orgId,
      subject: "with values",
      description: null,
      status: "open",
      priority: "medium",
      created_by: null,
      created_at: T0,
      updated_at: T0 + 5,
      requester_id: null,
      assignee_id: null,
      tags: "[]",
      custom_fields: customFields,
      ...over,
    });
    const putTicket = async (r: TicketRow) => {
      await tickets.insert(r);
      return r;
    };
    const ids = (rows: { id: string }[]) => rows.map((r) => r.id);

    test("insert then get, byKey, list and page return every field exactly: each type, Unicode titles and options", async () => {
      const rows = [
        row(a, "order_id", { title: TEXTS[0] }),
        row(a, "amount", { type: "number", required: 1, title: TEXTS[1] }),
        row(a, "due", { type: "date", title: TEXTS[2] }),
        row(a, "vip", { type: "checkbox", title: TEXTS[3] }),
        row(a, "tier", { type: "dropdown", options: JSON.stringify([TEXTS[0], TEXTS[2], "x".repeat(100)]), title: "x".repeat(100) }),
        row(a, "k".repeat(64)),
        row(a, "0_9"),
      ];
      for (const r of rows) await put(r);
      for (const r of rows) {
        expectSameRow(await store.get(r.id, a.orgId), r);
        expectSameRow(await store.byKey(a.orgId, r.key), r);
      }
      const listed = await store.list(a.orgId);
      expect(ids(listed)).toEqual(ids(rows));
      for (const [i, r] of listed.entries()) expectSameRow(r, rows[i]!);
      for (const r of await store.page(a.orgId, 100, 0)) expectSameRow(r, rows.find((x) => x.id === r.id)!);
    });

    test("list and pages are oldest first with an id tie-break; totals are exact; another organization's fields are invisible", async () => {
      const rows: TicketFieldRow[] = [];
      for (let i = 0; i < 9; i++) rows.push(await put(row(a, `f${i}`, { created_at: T0 + Math.floor(i / 3) })));
      await put(row(b, "f0"));
      const want = ids([...rows].sort(oldestFirst));
      expect(ids(await store.list(a.orgId))).toEqual(want);
      expect(await store.total(a.orgId)).toBe(9);
      expect(await store.total(b.orgId)).toBe(1);
      const seen: string[] = [];
      for (let off = 0; off < 12; off += 2) seen.push(...ids(await store.page(a.orgId, 2, off)));
      expect(seen).toEqual(want);
      expect(await store.page(a.orgId, 5, 9)).toEqual([]);
      expect(await store.get(rows[0]!.id, b.orgId)).toBeNull();
      expect((await store.byKey(b.orgId, "f0"))?.org_id).toBe(b.orgId);
      expect(await store.byKey(b.orgId, "f1")).toBeNull();
      expect(await store.list(newId("org"))).toEqual([]);
      expect(await store.total(newId("org"))).toBe(0);
    });

    test("lookups of ids and keys that cannot exist (NUL, quotes, unknown) find nothing", async () => {
      await put(row(a, "order_id"));
      for (const odd of ["", "tfd_\0", "order_id\0", "' OR 1=1 --", "ORDER_ID", "order_id "]) {
        expect(await store.get(odd, a.orgId)).toBeNull();
        expect(await store.byKey(a.orgId, odd)).toBeNull();
        expect(await store.remove(odd, a.orgId)).toBe(false);
      }
    });

    test("a second field with a key the organization uses is TicketFieldKeyTaken (nothing stored); another organization may use it", async () => {
      const first = await put(row(a, "order_id"));
      const err = await failure(() => store.insert(row(a, "order_id", { type: "number" })));
      expect(err).toBeInstanceOf(TicketFieldKeyTaken);
      expect((err as TicketFieldKeyTaken).key).toBe("order_id");
      expect(ids(await store.list(a.orgId))).toEqual([first.id]);
      await put(row(b, "order_id"));
      expect(await store.total(b.orgId)).toBe(1);
      // In a unit too, and the unit rolls back.
      const other = row(a, "other");
      expect(
        await failure(() =>
          writer.write(async (tx) => {
            await tx.ticketFields.insert(other);
            await tx.ticketFields.insert(row(a, "order_id"));
          }),
        ),
      ).toBeInstanceOf(TicketFieldKeyTaken);
      expect(await store.get(other.id, a.orgId)).toBeNull();
    });

    test("concurrent inserts of one key, on the pool and in units: exactly one lands, every other is TicketFieldKeyTaken", async () => {
      await warmUp(() => store.total(a.orgId));
      const rows = Array.from({ length: CONCURRENCY }, (_, i) => row(a, "same", { created_at: T0 + i }));
      const { fulfilled, rejected } = await settle(rows.map((r, i) => (i % 2 ? () => store.insert(r) : () => writer.write((tx) => tx.ticketFields.insert(r)))));
      expect(fulfilled.length).toBe(1);
      expect(rejected.length).toBe(CONCURRENCY - 1);
      for (const e of rejected) expect(e).toBeInstanceOf(TicketFieldKeyTaken);
      expect(await store.total(a.orgId)).toBe(1);
    });

    test("in a unit, total sees every field committed before and no other unit's insert comes between it and the unit's writes", async () => {
      await warmUp(() => store.total(a.orgId));
      const limit = 5;
      const { fulfilled } = await settle(
        Array.from(
          { length: CONCURRENCY },
          (_, i) => () =>
            writer.write(async (tx) => {
              if ((await tx.ticketFields.total(a.orgId)) >= limit) return false;
              await tx.ticketFields.insert(row(a, `k${i}`));
              return true;
            }),
        ),
      );
      expect(fulfilled.filter((x) => x).length).toBe(limit);
      expect(await store.total(a.orgId)).toBe(limit);
    });

    test("update writes title, options, required and updated_at only, of that organization's field", async () => {
      const r = await put(row(a, "tier", { type: "dropdown", options: '["a","b"]' }));
      const after: TicketFieldRow = { ...r, title: TEXTS[1], options: '["b","c"]', required: 1, updated_at: r.updated_at + 10 };
      // key, type and created_at in the row given are not written.
      expect(await store.update({ ...after, key: "changed", type: "text", created_at: 1 })).toBe(true);
      expectSameRow(await store.get(r.id, a.orgId), after);
      expect(await store.update({ ...after, org_id: b.orgId, title: "hijack" })).toBe(false);
      expect(await store.update({ ...after, id: newId("tkt") })).toBe(false);
      expectSameRow(await store.get(r.id, a.orgId), after);
      await writer.write((tx) => tx.ticketFields.update({ ...after, required: 0, options: null }));
      expectSameRow(await store.get(r.id, a.orgId), { ...after, required: 0, options: null });
    });

    test("remove deletes that organization's field once; a second remove or another organization's changes nothing", async () => {
      const r = await put(row(a, "order_id"));
      const keep = await put(row(a, "keep"));
      expect(await store.remove(r.id, b.orgId)).toBe(false);
      expect(await store.get(r.id, a.orgId)).not.toBeNull();
      expect(await writer.write((tx) => tx.ticketFields.remove(r.id, a.orgId))).toBe(true);
      expect(await store.remove(r.id, a.orgId)).toBe(false);
      expect(ids(await store.list(a.orgId))).toEqual([keep.id]);
      // The key is free again.
      await put(row(a, "order_id"));
    });

    test("removeValues takes the key out of that organization's tickets only, the stored text the same on every engine, nothing else changed", async () => {
      const tricky = { a: 1e21, b: 0.1, c: 'é\u2028"\\/\n😀', d: true, e: -5, f: "x".repeat(1000) };
      const t1 = await putTicket(ticketRow(a, customFieldsJson({ ...tricky, order_id: "A-1" })));
      const t2 = await putTicket(ticketRow(a, customFieldsJson({ order_id: "B-2" })));
      const t3 = await putTicket(ticketRow(a, customFieldsJson({ b: 2, order_ids: "not the same key", zz_order_id: 1 })));
      const t4 = await putTicket(ticketRow(a, "{}"));
      // Integer-like keys, which a JavaScript object would put first, stay in byte order.
      const t5 = await putTicket(ticketRow(a, '{"10":1,"9":2,"order_id":false}'));
      const foreign = await putTicket(ticketRow(b, customFieldsJson({ order_id: "C-3" })));
      expect(await writer.write((tx) => tx.ticketFields.removeValues(a.orgId, "order_id"))).toBe(3);
      const text = async (t: TicketRow, orgId = a.orgId) => (await tickets.get(t.id, orgId))?.custom_fields;
      expect(await text(t1)).toBe('{"a":1e+21,"b":0.1,"c":"é\u2028\\"\\\\/\\n😀","d":true,"e":-5,"f":"' + "x".repeat(1000) + '"}');
      expect(await text(t2)).toBe("{}");
      expect(await text(t3)).toBe('{"b":2,"order_ids":"not the same key","zz_order_id":1}');
      expect(await text(t4)).toBe("{}");
      expect(await text(t5)).toBe('{"10":1,"9":2}');
      expect(await text(foreign, b.orgId)).toBe('{"order_id":"C-3"}');
      // Nothing else of the tickets moved, updated_at included.
      for (const t of [t1, t2, t3, t4, t5]) {
        const got = await tickets.get(t.id, a.orgId);
        expectSameRow({ ...got!, custom_fields: null }, { ...t, custom_fields: null });
      }
      expect(await writer.write((tx) => tx.ticketFields.removeValues(a.orgId, "order_id"))).toBe(0);
      expect(await store.removeValues(b.orgId, "order_id")).toBe(1);
      expect(await text(foreign, b.orgId)).toBe("{}");
    });

    test("removeValues rewrites many tickets in one unit (more than one batch)", async () => {
      const many = 5200;
      await writer.write(async (tx) => {
        for (let i = 0; i < many; i++) await tx.tickets.insert(ticketRow(a, customFieldsJson({ k: i, order_id: `o${i}` }), { created_at: T0 + i }));
      });
      expect(await writer.write((tx) => tx.ticketFields.removeValues(a.orgId, "order_id"))).toBe(many);
      const sample = await tickets.page(a.orgId, {}, 3, 0);
      expect(sample.map((t) => t.custom_fields)).toEqual([`{"k":${many - 1}}`, `{"k":${many - 2}}`, `{"k":${many - 3}}`]);
    }, 60_000);

    test("a field deleted while units check ticket values against the fields: no ticket keeps a value of a field that is gone, no deadlock", async () => {
      await warmUp(() => store.total(a.orgId));
      for (let round = 0; round < 3; round++) {
        const field = await put(row(a, "order_id"));
        const deleteField = () =>
          writer.write(async (tx) => {
            const f = await tx.ticketFields.get(field.id, a.orgId);
            if (!f) return;
            await tx.ticketFields.remove(f.id, a.orgId);
            await tx.ticketFields.removeValues(a.orgId, f.key);
          });
        // A ticket write as the tickets service makes one: the fields first (shared lock), then the ticket.
        const writeTicket = (i: number) => () =>
          writer.write(async (tx) => {
            const defs = await tx.ticketFields.list(a.orgId);
            const values = defs.some((d) => d.key === "order_id") ? { order_id: `v${i}` } : {};
            await tx.tickets.insert(ticketRow(a, customFieldsJson(values), { created_at: T0 + round * 100 + i }));
          });
        const calls = Array.from({ length: CONCURRENCY }, (_, i) => writeTicket(i));
        calls.splice(CONCURRENCY / 2, 0, deleteField);
        const { rejected } = await settle(calls);
        expect(rejected).toEqual([]);
        expect(await store.get(field.id, a.orgId)).toBeNull();
        const left = await tickets.page(a.orgId, {}, 100, 0);
        expect(left.filter((t) => t.custom_fields.includes("order_id"))).toEqual([]);
      }
    });
  });
}
