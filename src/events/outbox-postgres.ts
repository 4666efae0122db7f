// The outbox on PostgreSQL: the Outbox contract over postgres.js; after a unit that recorded commits, one coalesced NOTIFY wakes every instance's dispatcher.
import type { Sql } from "postgres";
import { events } from "../db/schema/events";
import { columnNames } from "../db/schema/raw-row";
import type { Queryable, StoreMode } from "../db/postgres/writer";
import { newId } from "../lib/ids";
import type { DomainEvent, EventRow, Outbox, RecordedEvent } from "./outbox";

/** The channel the outbox's wake-up notifies on (empty payload: listeners read the outbox); heard by postgresSignals. */
export const OUTBOX_CHANNEL = "clientcove_outbox";

/** Every column of an event but its own bookkeeping (`dispatched_at`). */
const EVENT_NAMES = columnNames(events).filter((c) => c !== "dispatched_at");

/** Whether any event waits to be fanned out (for the signals' catch-up after listening (re)starts). */
export async function outboxWaiting(q: Queryable): Promise<boolean> {
  const [row] = await q<{ waiting: number }[]>`SELECT EXISTS (SELECT 1 FROM events WHERE dispatched_at IS NULL) AS waiting`;
  return row?.waiting === 1;
}

/**
 * The outbox's wake-up for one pool: `wake()` asks for one `NOTIFY` on OUTBOX_CHANNEL, sent on the pool (outside any
 * transaction) on the next turn of the event loop, so the commits of one turn share one notification. At most one is
 * in flight; a wake-up asked for meanwhile sends one more after it (a listener that read the outbox before a later
 * commit then hears again). A NOTIFY that fails (the database away) is dropped: the listeners' catch-up after
 * LISTEN (re)starts and their periodic outbox check (postgresSignals) find the events.
 *
 * Not a NOTIFY inside each recording transaction: PostgreSQL takes its notification queue's lock at every notifying
 * commit, which serialises those commits (16 writers: ~550 commits/s with it, ~1,900 without; bench/pg-write-limits.ts).
 */
export function outboxWaker(sql: Sql): () => void {
  let scheduled = false;
  let sending = false;
  let again = false;
  const send = () => {
    scheduled = false;
    if (sending) {
      again = true;
      return;
    }
    sending = true;
    sql`SELECT pg_notify(${OUTBOX_CHANNEL}, '')`
      .catch(() => {})
      .finally(() => {
        sending = false;
        if (again) {
          again = false;
          send();
        }
      });
  };
  return () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(send);
  };
}

/**
 * The PostgreSQL implementation on `q` (the pool, or a unit's transaction: see StoreMode). `recorded` is called after
 * each `record`: in `tx` mode the engine makes it an after-commit call of the unit (never on rollback); on the pool
 * the row is committed when the statement returns. In `tx` mode, `undispatched` locks the events it returns and skips
 * those another unit holds (`FOR UPDATE SKIP LOCKED`): fan-out reads them to mark them dispatched in the same unit, so
 * two fan-outs (two instances on one database) never take the same event, and neither waits for the other.
 */
export function postgresOutbox(q: Queryable, mode: StoreMode, recorded: () => void): Outbox {
  const columns = q(EVENT_NAMES);
  return {
    async record(event: DomainEvent, now: number): Promise<RecordedEvent> {
      const id = newId("evt");
      const data = JSON.stringify(event.data);
      const changed = event.changedFields ? JSON.stringify(event.changedFields) : null;
      const [row] = await q<{ seq: number }[]>`
        INSERT INTO events (id, org_id, type, data, changed_fields, created_at)
        VALUES (${id}, ${event.orgId}, ${event.type}, ${data}, ${changed}, ${now})
        RETURNING seq`;
      recorded();
      return { ...event, id, seq: row!.seq, createdAt: now };
    },
    async undispatched(limit: number): Promise<EventRow[]> {
      // Uses events_undispatched (dispatched_at, seq): the waiting events, in record order.
      return mode === "tx"
        ? await q<EventRow[]>`SELECT ${columns} FROM events WHERE dispatched_at IS NULL ORDER BY seq LIMIT ${limit} FOR UPDATE SKIP LOCKED`
        : await q<EventRow[]>`SELECT ${columns} FROM events WHERE dispatched_at IS NULL ORDER BY seq LIMIT ${limit}`;
    },
    async markDispatched(seq: number | readonly number[], now: number): Promise<void> {
      if (typeof seq === "number") await q`UPDATE events SET dispatched_at = ${now} WHERE seq = ${seq}`;
      // A fan-out's batch in one statement (one round trip, one query text whatever the count): the seqs are the
      // outbox's own integers, sent as one bigint[] literal.
      else if (seq.length) await q`UPDATE events SET dispatched_at = ${now} WHERE seq = ANY(${`{${seq.map((n) => Math.trunc(n)).join(",")}}`}::bigint[])`;
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
