// The outbox: `record` is the one way a domain change announces itself, inside the change's unit of work; the dispatcher reads, marks and prunes it, and hears of new events through the engine's signal.
import type { Database } from "bun:sqlite";
import { asyncStore, type Guard } from "../db/async-store";
import { perDatabase } from "../db/per-database";
import { type EventType, events } from "../db/schema/events";
import { columnNames, type RawRow } from "../db/schema/raw-row";
import { newId } from "../lib/ids";

export interface DomainEvent {
  type: EventType;
  orgId: string;
  /** The resource as the API returns it. */
  data: Record<string, unknown>;
  /** For `*.updated`: the names of the fields that changed. */
  changedFields?: string[];
}

export interface RecordedEvent extends DomainEvent {
  id: string;
  seq: number;
  createdAt: number;
}

/** An outbox event as fan-out reads it (JSON as text): everything but its own bookkeeping (`dispatched_at`). */
export type EventRow = Omit<RawRow<typeof events>, "dispatched_at">;

/**
 * The outbox (the `events` table). `record` is what every change calls, in the unit of work that makes the change,
 * so the event exists if and only if the change committed. The other methods are the dispatcher's and retention's:
 * they are cross-organization by design (one background worker fans out and prunes every tenant's events, in record
 * order); no request reaches them. Used inside a writer unit (its `tx`), calls run in that unit's transaction.
 */
export interface Outbox {
  /** Appends an event; its `seq` (increasing) is the outbox's order. */
  record(event: DomainEvent, now: number): Promise<RecordedEvent>;
  /** The oldest `limit` events not yet fanned out, in record order (seq), of every organization. */
  undispatched(limit: number): Promise<EventRow[]>;
  /** Takes the event (or the events, in one statement where the engine can) out of the outbox (fanned out at `now`). Marking again is harmless. */
  markDispatched(seq: number | readonly number[], now: number): Promise<void>;
  /** Deletes up to `limit` events dispatched before `cutoff` (never an undispatched one); returns how many. */
  prune(cutoff: number, limit: number): Promise<number>;
}

/**
 * How the dispatcher hears that events were recorded, so it wakes without polling. Engine-specific (SQLite: in
 * process, on the next turn of the event loop after the batch; PostgreSQL: LISTEN/NOTIFY, delivered on commit), so
 * the engine provides it beside its stores. A call may come for an event whose unit rolled back: listeners read the
 * outbox, they do not trust the call.
 */
export interface OutboxSignal {
  /** Calls `fn` some time after events are recorded; returns the unsubscribe function. */
  onRecorded(fn: () => void): () => void;
}

type Listener = () => void;

const EVENT_COLUMNS = columnNames(events)
  .filter((c) => c !== "dispatched_at")
  .join(", ");

/** Per connection: the statements, and the listeners of the SQLite signal with their one pending wake-up. */
function buildConnection(db: Database) {
  return {
    insert: db.prepare(`INSERT INTO events (id, org_id, type, data, changed_fields, created_at) VALUES (?, ?, ?, ?, ?, ?)`),
    // Uses events_undispatched (dispatched_at, seq): the waiting events, in record order.
    undispatched: db.prepare<EventRow, [number]>(`SELECT ${EVENT_COLUMNS} FROM events WHERE dispatched_at IS NULL ORDER BY seq LIMIT ?`),
    markDispatched: db.prepare(`UPDATE events SET dispatched_at = ? WHERE seq = ?`),
    prune: db.prepare(`DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE dispatched_at IS NOT NULL AND dispatched_at < ? LIMIT ?)`),
    listeners: new Set<Listener>(),
    pending: false,
  };
}

const connectionOf = perDatabase(buildConnection);

function buildOutbox(db: Database) {
  const s = connectionOf(db);
  return {
    record(event: DomainEvent, now: number): RecordedEvent {
      const id = newId("evt");
      const result = s.insert.run(
        id,
        event.orgId,
        event.type,
        JSON.stringify(event.data),
        event.changedFields ? JSON.stringify(event.changedFields) : null,
        now,
      );
      // On the next turn of the event loop, once for all the events recorded in this one: after the batch they are
      // part of has committed (or rolled back), never while its transaction is open.
      if (s.listeners.size && !s.pending) {
        s.pending = true;
        setImmediate(() => {
          s.pending = false;
          s.listeners.forEach((fn) => fn());
        });
      }
      return { ...event, id, seq: Number(result.lastInsertRowid), createdAt: now };
    },
    undispatched: (limit: number): EventRow[] => s.undispatched.all(limit),
    markDispatched(seq: number | readonly number[], now: number): void {
      if (typeof seq === "number") s.markDispatched.run(now, seq);
      else for (const one of seq) s.markDispatched.run(now, one);
    },
    prune: (cutoff: number, limit: number): number => s.prune.run(cutoff, limit).changes,
  };
}

const outboxOf = perDatabase(buildOutbox);

/** The SQLite outbox over one connection (its statements shared by every view of it); `guard` see async-store.ts. */
export function sqliteOutbox(db: Database, guard?: Guard): Outbox {
  return asyncStore(outboxOf(db), guard) satisfies Outbox;
}

/** SQLite's signal: the listeners of this connection, called on the next turn after a unit recorded events. */
export function sqliteOutboxSignal(db: Database): OutboxSignal {
  const { listeners } = connectionOf(db);
  return {
    onRecorded(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
  };
}
