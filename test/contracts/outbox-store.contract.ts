// The outbox store contract (record, read in record order, mark dispatched, prune, wake listeners), written against the interface so every engine runs it unchanged.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { Writer } from "../../src/db/writer";
import type { DomainEvent, EventRow, Outbox, OutboxSignal, RecordedEvent } from "../../src/events/outbox";
import { expectSameRow, type Open, type Opened, type SeededOrg, T0, TEXTS } from "./fixtures";

/** What the suite runs against: the engine's outbox (record; read, mark, prune), its wake-up signal and its writer. */
export interface OutboxUnderTest {
  outbox: Outbox;
  signal: OutboxSignal;
  /** Units whose `tx.outbox` runs in their transaction (the signal's timing, concurrent fan-outs). */
  writer: Writer<{ outbox: Outbox }>;
}

export function describeOutboxStoreContract(engineName: string, open: Open<OutboxUnderTest>) {
  describe(`outbox store contract (${engineName})`, () => {
    let w: Opened<OutboxUnderTest>;
    let store: Outbox;
    let signal: OutboxSignal;
    let writer: Writer<{ outbox: Outbox }>;
    let a: SeededOrg;
    let b: SeededOrg;
    beforeEach(async () => {
      w = await open();
      store = w.store.outbox;
      signal = w.store.signal;
      writer = w.store.writer;
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

    test("listeners hear that events were recorded once the unit has committed, never while it is open, until they unsubscribe", async () => {
      // The signal is a hint (a listener reads the outbox): an engine may call more than once, but never before the
      // unit that recorded has committed (its event could still roll back), and never after unsubscribing.
      let calls = 0;
      let heard!: () => void;
      const first = new Promise<void>((resolve) => (heard = resolve));
      const off = signal.onRecorded(() => {
        calls++;
        heard();
      });
      const e = await writer.write(async (tx) => {
        const recorded = await tx.outbox.record({ type: "webhook.test", orgId: a.orgId, data: {} }, T0);
        expect(calls).toBe(0);
        return recorded;
      });
      await first;
      expect(calls).toBeGreaterThanOrEqual(1);
      expect((await store.undispatched(10)).map((r) => r.id)).toEqual([e.id]);
      off();
      const before = calls;
      await writer.write((tx) => tx.outbox.record({ type: "webhook.test", orgId: a.orgId, data: {} }, T0));
      // A few turns of the event loop: a call the record scheduled has run by then.
      for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
      await new Promise((r) => setTimeout(r, 0));
      expect(calls).toBe(before);
    });

    test("events are recorded by many concurrent units, each with its own seq; a unit that fails records nothing", async () => {
      const made = await Promise.all(
        Array.from({ length: 24 }, (_, i) =>
          writer
            .write(async (tx) => {
              const e = await tx.outbox.record({ type: "ticket.created", orgId: i % 2 ? a.orgId : b.orgId, data: { i } }, T0 + i);
              if (i % 6 === 5) throw new Error("rolled back");
              return e;
            })
            .catch(() => null),
        ),
      );
      const kept = made.filter((e): e is RecordedEvent => e !== null);
      expect(kept.length).toBe(20);
      expect(new Set(kept.map((e) => e.seq)).size).toBe(20);
      const rows = await store.undispatched(100);
      expect(rows.map((r) => r.id).sort()).toEqual(kept.map((e) => e.id).sort());
      // Record order is seq order.
      expect(rows.map((r) => r.seq)).toEqual(rows.map((r) => r.seq).sort((x, y) => x - y));
    });

    test("concurrent fan-out units never take the same event: each waiting event is taken exactly once", async () => {
      const recorded: RecordedEvent[] = [];
      for (let i = 0; i < 10; i++) recorded.push(await store.record({ type: "ticket.updated", orgId: a.orgId, data: { i } }, T0 + i));
      // Each unit reads up to 3 waiting events and marks them, as fan-out does in one unit.
      const taken = await Promise.all(
        Array.from({ length: 4 }, () =>
          writer.write(async (tx) => {
            const rows = await tx.outbox.undispatched(3);
            for (const r of rows) await tx.outbox.markDispatched(r.seq, T0 + 100);
            return rows.map((r) => r.seq);
          }),
        ),
      );
      const all = taken.flat();
      expect(all.length).toBe(recorded.length);
      expect([...all].sort((x, y) => x - y)).toEqual(recorded.map((e) => e.seq));
      expect(await store.undispatched(100)).toEqual([]);
    });
  });
}
