// The outbox on PostgreSQL: the Outbox contract over postgres.js; `record` also NOTIFYs, so every instance's dispatcher wakes once the unit commits.
import { events } from "../db/schema/events";
import { columnNames } from "../db/schema/raw-row";
import type { Queryable, StoreMode } from "../db/postgres/writer";
import { newId } from "../lib/ids";
import type { DomainEvent, EventRow, Outbox, RecordedEvent } from "./outbox";

/** The channel `record` notifies on (empty payload: listeners read the outbox); heard by postgresSignals. */
export const OUTBOX_CHANNEL = "clientcove_outbox";

/** Every column of an event but its own bookkeeping (`dispatched_at`). */
const EVENT_NAMES = columnNames(events).filter((c) => c !== "dispatched_at");

/** Whether any event waits to be fanned out (for the signals' catch-up after listening (re)starts). */
export async function outboxWaiting(q: Queryable): Promise<boolean> {
  const [row] = await q<{ waiting: number }[]>`SELECT EXISTS (SELECT 1 FROM events WHERE dispatched_at IS NULL) AS waiting`;
  return row?.waiting === 1;
}

/**
 * The PostgreSQL implementation on `q` (the pool, or a unit's transaction: see StoreMode). In `tx` mode,
 * `undispatched` locks the events it returns and skips those another unit holds (`FOR UPDATE SKIP LOCKED`): fan-out
 * reads them to mark them dispatched in the same unit, so two fan-outs (two instances on one database) never take the
 * same event, and neither waits for the other.
 */
export function postgresOutbox(q: Queryable, mode: StoreMode): Outbox {
  const columns = q(EVENT_NAMES);
  return {
    async record(event: DomainEvent, now: number): Promise<RecordedEvent> {
      const id = newId("evt");
      const data = JSON.stringify(event.data);
      const changed = event.changedFields ? JSON.stringify(event.changedFields) : null;
      // One statement: the row and the wake-up. NOTIFY is delivered when the transaction commits (never if it rolls
      // back), and the notifications of one transaction with the same payload collapse into one.
      const [row] = await q<{ seq: number }[]>`
        WITH e AS (
          INSERT INTO events (id, org_id, type, data, changed_fields, created_at)
          VALUES (${id}, ${event.orgId}, ${event.type}, ${data}, ${changed}, ${now})
          RETURNING seq
        ), n AS (SELECT pg_notify(${OUTBOX_CHANNEL}, '') AS _)
        SELECT e.seq FROM e, n`;
      return { ...event, id, seq: row!.seq, createdAt: now };
    },
    async undispatched(limit: number): Promise<EventRow[]> {
      // Uses events_undispatched (dispatched_at, seq): the waiting events, in record order.
      return mode === "tx"
        ? await q<EventRow[]>`SELECT ${columns} FROM events WHERE dispatched_at IS NULL ORDER BY seq LIMIT ${limit} FOR UPDATE SKIP LOCKED`
        : await q<EventRow[]>`SELECT ${columns} FROM events WHERE dispatched_at IS NULL ORDER BY seq LIMIT ${limit}`;
    },
    async markDispatched(seq: number, now: number): Promise<void> {
      await q`UPDATE events SET dispatched_at = ${now} WHERE seq = ${seq}`;
    },
    async prune(cutoff: number, limit: number): Promise<number> {
      // By primary key (no rowid on PostgreSQL); rows another unit holds are left for the next batch. The outer
      // condition is checked again on the row as it is when locked.
      const result = await q`
        DELETE FROM events WHERE seq IN (
          SELECT seq FROM events WHERE dispatched_at IS NOT NULL AND dispatched_at < ${cutoff} LIMIT ${limit} FOR UPDATE SKIP LOCKED
        ) AND dispatched_at IS NOT NULL`;
      return result.count;
    },
  };
}
