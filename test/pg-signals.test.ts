// The PostgreSQL outbox wake-up across instances: NOTIFY after the recording unit's COMMIT (never inside it, never on rollback), heard by every engine on the database, and the periodic outbox check that finds events whose wake-up was lost.
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { OUTBOX_CHANNEL } from "../src/events/outbox-postgres";
import { manualClock } from "../src/lib/clock";
import { newId } from "../src/lib/ids";
import { postgresEngine } from "../src/stores";
import { OUTBOX_CHECK_MS, postgresSignals } from "../src/webhooks/signals-postgres";
import { notifyWorld } from "./pg-notify-fixtures";
import { postgresUrl } from "./services/postgres";

setDefaultTimeout(30_000);
const base = await postgresUrl();
if (!base) process.stderr.write("test/pg-signals.test.ts: skipped (no PostgreSQL server; see the line above)\n");

const T0 = Date.UTC(2026, 11, 2);

describe.skipIf(!base)("outbox wake-ups on PostgreSQL", () => {
  const w = notifyWorld(OUTBOX_CHANNEL, T0);
  const open = w.open;

  /** Resolves on the next call of an onRecorded subscription; `off` unsubscribes. */
  function nextCall(subscribe: (fn: () => void) => () => void): { heard: Promise<void>; off: () => void } {
    let resolve!: () => void;
    const heard = new Promise<void>((r) => (resolve = r));
    const off = subscribe(() => resolve());
    return { heard, off };
  }

  test("an event committed through one instance's engine wakes another instance's listener, and the NOTIFY comes after the COMMIT", async () => {
    const a = postgresEngine(open());
    const b = postgresEngine(open());
    const { heard, off } = nextCall(b.signals.onRecorded);
    const before = w.heard.length;
    const e = await a.writer.write(async (tx) => {
      const recorded = await tx.outbox.record({ type: "webhook.test", orgId: w.orgId, data: {} }, T0);
      // Nothing is sent while the transaction is open: the wake-up waits for the COMMIT.
      await new Promise((r) => setImmediate(r));
      expect(w.heard.length).toBe(before);
      return recorded;
    });
    await heard;
    off();
    // The listener reads the outbox and finds the event committed.
    const waiting = await b.stores.outbox.undispatched(10);
    expect(waiting.map((r) => r.id)).toContain(e.id);
    await a.stores.outbox.markDispatched(e.seq, T0 + 1);
  });

  test("a unit that records and rolls back sends no wake-up; the units committed together share NOTIFYs", async () => {
    const sql = open();
    const a = postgresEngine(sql);
    const before = w.heard.length;
    await expect(
      a.writer.write(async (tx) => {
        await tx.outbox.record({ type: "webhook.test", orgId: w.orgId, data: {} }, T0);
        throw new Error("rolled back");
      }),
    ).rejects.toThrow("rolled back");
    // A wake-up would be sent on the next turn; a marker sent after it arrives after it (delivery is in commit order).
    await w.settled(sql);
    expect(w.heard.length).toBe(before);
    // Eight units at once: one NOTIFY per turn and one in flight at a time, so fewer than one each.
    const made = await Promise.all(
      Array.from({ length: 8 }, () => a.writer.write((tx) => tx.outbox.record({ type: "webhook.test", orgId: w.orgId, data: {} }, T0))),
    );
    while (w.heard.length === before) await new Promise((r) => setTimeout(r, 2));
    expect(w.heard.length - before).toBeLessThan(8);
    for (const e of made) await a.stores.outbox.markDispatched(e.seq, T0 + 1);
    expect(await a.stores.outbox.undispatched(10)).toEqual([]);
  });

  test("an event nobody was told about (its instance died between COMMIT and NOTIFY) is found by the periodic outbox check", async () => {
    const sql = open();
    const clock = manualClock(T0);
    const signals = postgresSignals(sql, { clock });
    let calls = 0;
    let resolve!: () => void;
    let heard = new Promise<void>((r) => (resolve = r));
    const off = signals.onRecorded(() => {
      calls++;
      resolve();
    });
    // Listening is up once a NOTIFY from elsewhere is heard.
    const other = postgresEngine(open());
    const probe = await other.writer.write((tx) => tx.outbox.record({ type: "webhook.test", orgId: w.orgId, data: {} }, T0));
    await heard;
    await other.stores.outbox.markDispatched(probe.seq, T0 + 1);
    // A committed event and no NOTIFY (what a crash between the two leaves).
    heard = new Promise<void>((r) => (resolve = r));
    const before = calls;
    await sql`INSERT INTO events (id, org_id, type, data, changed_fields, created_at) VALUES (${newId("evt")}, ${w.orgId}, 'webhook.test', '{}', NULL, ${T0})`;
    expect(clock.nextTimer()).toBe(T0 + OUTBOX_CHECK_MS);
    clock.advance(OUTBOX_CHECK_MS);
    await heard;
    expect(calls).toBe(before + 1);
    // The check repeats while someone listens, and stops with the last listener.
    expect(clock.nextTimer()).toBe(T0 + 2 * OUTBOX_CHECK_MS);
    off();
    expect(clock.nextTimer()).toBeNull();
    await sql`UPDATE events SET dispatched_at = ${T0} WHERE dispatched_at IS NULL`;
  });
});
