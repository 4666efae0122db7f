// The outbox's batch mark (one statement for a fan-out's events) and fan-out's use of it, on every engine.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { RecordedEvent } from "../src/events/outbox";
import { fanOutPending } from "../src/webhooks/fan-out";
import { ENGINES, type EngineWorld } from "./contracts/engines";
import { T0 } from "./contracts/fixtures";

for (const engine of ENGINES) {
  describe(`outbox batch mark (${engine.name})`, () => {
    let w: EngineWorld;
    let orgId: string;
    beforeEach(async () => {
      w = await engine.open();
      orgId = (await w.seed.org("A")).orgId;
    });
    afterEach(() => w.close());

    const record = async (n: number): Promise<RecordedEvent[]> => {
      const out: RecordedEvent[] = [];
      for (let i = 0; i < n; i++) out.push(await w.outbox.record({ type: "ticket.created", orgId, data: { i } }, T0 + i));
      return out;
    };

    test("markDispatched with a list marks exactly those events, in one call; an empty list and a repeat change nothing", async () => {
      const recorded = await record(6);
      await w.outbox.markDispatched([], T0 + 50);
      expect((await w.outbox.undispatched(100)).length).toBe(6);
      await w.outbox.markDispatched([recorded[4]!.seq, recorded[1]!.seq, recorded[2]!.seq], T0 + 100);
      expect((await w.outbox.undispatched(100)).map((r) => r.id)).toEqual([0, 3, 5].map((i) => recorded[i]!.id));
      await w.outbox.markDispatched([recorded[1]!.seq], T0 + 200);
      expect((await w.outbox.undispatched(100)).length).toBe(3);
      // The marked ones are dispatched at the time given, the repeat's for the one marked again (prune sees them so).
      expect(await w.outbox.prune(T0 + 101, 100)).toBe(2);
      expect(await w.outbox.prune(T0 + 201, 100)).toBe(1);
      expect((await w.outbox.undispatched(100)).map((r) => r.id)).toEqual([0, 3, 5].map((i) => recorded[i]!.id));
    });

    test("a batch mark inside a unit that rolls back marks nothing", async () => {
      const recorded = await record(3);
      const boom = new Error("roll back");
      await expect(
        w.writer.write(async (tx) => {
          await tx.outbox.markDispatched(
            recorded.map((e) => e.seq),
            T0 + 100,
          );
          throw boom;
        }),
      ).rejects.toBe(boom);
      expect((await w.outbox.undispatched(100)).length).toBe(3);
    });

    test("fanOutPending marks its whole batch dispatched in its unit and leaves the rest, in record order", async () => {
      const recorded = await record(5);
      expect(await fanOutPending(w.writer, T0 + 100, 3)).toEqual({ events: 3, queued: [] });
      expect((await w.outbox.undispatched(100)).map((r) => r.id)).toEqual([3, 4].map((i) => recorded[i]!.id));
      expect(await fanOutPending(w.writer, T0 + 200, 3)).toEqual({ events: 2, queued: [] });
      expect(await fanOutPending(w.writer, T0 + 300, 3)).toEqual({ events: 0, queued: [] });
      expect((await w.outbox.undispatched(100)).length).toBe(0);
    });
  });
}
