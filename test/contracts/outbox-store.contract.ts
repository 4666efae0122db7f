// The outbox store contract (record, read in record order, mark dispatched, prune, wake listeners), written against the interface so every engine runs it unchanged.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { DomainEvent, EventRow, Outbox, OutboxSignal, RecordedEvent } from "../../src/events/outbox";
import { expectSameRow, type Open, type Opened, type SeededOrg, T0, TEXTS } from "./fixtures";

/** What the suite runs against: the engine's outbox (record; read, mark, prune) and its wake-up signal. */
export interface OutboxUnderTest {
  outbox: Outbox;
  signal: OutboxSignal;
}

export function describeOutboxStoreContract(engineName: string, open: Open<OutboxUnderTest>) {
  describe(`outbox store contract (${engineName})`, () => {
    let w: Opened<OutboxUnderTest>;
    let store: Outbox;
    let signal: OutboxSignal;
    let a: SeededOrg;
    let b: SeededOrg;
    beforeEach(async () => {
      w = await open();
      store = w.store.outbox;
      signal = w.store.signal;
      a = await w.seed.org("A");
      b = await w.seed.org("B");
    });
    afterEach(() => w.close());

    const asRow = (e: RecordedEvent): EventRow => ({
      seq: e.seq,
      id: e.id,
      org_id: e.orgId,
      type: e.type,
      data: JSON.stringify(e.data),
      changed_fields: e.changedFields ? JSON.stringify(e.changedFields) : null,
      created_at: e.createdAt,
    });

    test("record returns the event with a new evt_ id, an increasing seq and its time; the outbox reads back every field exactly", async () => {
      const recorded: RecordedEvent[] = [];
      for (const [i, text] of TEXTS.entries()) {
        const data = { id: `tkt_${i}`, subject: text, nested: { list: [1, null, "🎫"], n: 1.5 } };
        const event: DomainEvent =
          i % 2 ? { type: "ticket.updated", orgId: a.orgId, data, changedFields: ["subject", "status"] } : { type: "ticket.created", orgId: b.orgId, data };
        const e = await store.record(event, T0 + i);
        expect(e).toMatchObject({ ...event, createdAt: T0 + i });
        expect(e.id).toMatch(/^evt_[0-9a-z]{16}$/);
        recorded.push(e);
      }
      expect(new Set(recorded.map((e) => e.id)).size).toBe(recorded.length);
      const seqs = recorded.map((e) => e.seq);
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
      expect(new Set(seqs).size).toBe(seqs.length);
      const rows = await store.undispatched(100);
      expect(rows.length).toBe(recorded.length);
      rows.forEach((r, i) => {
        expectSameRow(r, asRow(recorded[i]!));
        expect(JSON.parse(r.data)).toEqual(recorded[i]!.data);
      });
    });

    test("the outbox reads in record order, not by timestamp, and `limit` takes the oldest", async () => {
      const times = [T0 + 50, T0, T0 + 50, T0 - 1000, T0 + 10];
      const recorded: RecordedEvent[] = [];
      for (const t of times) recorded.push(await store.record({ type: "ticket.deleted", orgId: a.orgId, data: { t } }, t));
      expect((await store.undispatched(100)).map((r) => r.id)).toEqual(recorded.map((e) => e.id));
      expect((await store.undispatched(2)).map((r) => r.id)).toEqual(recorded.slice(0, 2).map((e) => e.id));
    });

    test("markDispatched takes an event out of the outbox, in any order, and leaves the rest in record order", async () => {
      const recorded: RecordedEvent[] = [];
      for (let i = 0; i < 6; i++) recorded.push(await store.record({ type: "file.uploaded", orgId: a.orgId, data: { i } }, T0 + i));
      await store.markDispatched(recorded[2]!.seq, T0 + 100);
      await store.markDispatched(recorded[0]!.seq, T0 + 100);
      expect((await store.undispatched(100)).map((r) => r.id)).toEqual([1, 3, 4, 5].map((i) => recorded[i]!.id));
      expect((await store.undispatched(2)).map((r) => r.id)).toEqual([1, 3].map((i) => recorded[i]!.id));
      // Marking again is harmless.
      await store.markDispatched(recorded[2]!.seq, T0 + 200);
      expect((await store.undispatched(100)).length).toBe(4);
      const later = await store.record({ type: "file.deleted", orgId: a.orgId, data: {} }, T0 + 300);
      expect((await store.undispatched(100)).at(-1)!.id).toBe(later.id);
      expect(later.seq).toBeGreaterThan(recorded.at(-1)!.seq);
    });

    test("prune deletes only events dispatched before the cutoff, at most `limit`; undispatched events are never pruned", async () => {
      const recorded: RecordedEvent[] = [];
      for (let i = 0; i < 6; i++) recorded.push(await store.record({ type: "ticket.created", orgId: a.orgId, data: { i } }, T0));
      // 0..3 dispatched at T0+i, 4 and 5 still waiting.
      for (let i = 0; i < 4; i++) await store.markDispatched(recorded[i]!.seq, T0 + i);
      expect(await store.prune(T0 + 3, 2)).toBe(2);
      expect(await store.prune(T0 + 3, 100)).toBe(1);
      expect(await store.prune(T0 + 3, 100)).toBe(0);
      expect(await store.prune(Number.MAX_SAFE_INTEGER, 100)).toBe(1);
      expect((await store.undispatched(100)).map((r) => r.id)).toEqual([recorded[4]!.id, recorded[5]!.id]);
    });

    test("listeners hear that events were recorded, until they unsubscribe", async () => {
      let calls = 0;
      let heard!: () => void;
      const first = new Promise<void>((resolve) => (heard = resolve));
      const off = signal.onRecorded(() => {
        calls++;
        heard();
      });
      await store.record({ type: "webhook.test", orgId: a.orgId, data: {} }, T0);
      // Never inside the call (on SQLite it would run while the unit's batch is still open).
      expect(calls).toBe(0);
      await first;
      expect(calls).toBeGreaterThanOrEqual(1);
      off();
      const before = calls;
      await store.record({ type: "webhook.test", orgId: a.orgId, data: {} }, T0);
      // A few turns of the event loop: a call the record scheduled has run by then.
      for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
      await new Promise((r) => setTimeout(r, 0));
      expect(calls).toBe(before);
    });
  });
}
