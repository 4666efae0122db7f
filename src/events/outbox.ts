// The outbox: record(db, event) is the one way a domain change announces itself, inside the change's transaction.
import type { Database } from "bun:sqlite";
import { perDatabase } from "../db/per-database";
import type { EventType } from "../db/schema/events";
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

type Listener = () => void;

const insertStatement = perDatabase((db) => db.prepare(`INSERT INTO events (id, org_id, type, data, changed_fields, created_at) VALUES (?, ?, ?, ?, ?, ?)`));
const listenersOf = perDatabase(() => new Set<Listener>());

/**
 * Appends an event to the outbox. Call it inside the same transaction as the change it describes
 * (bun:sqlite transactions are per connection), so the event exists if and only if the change committed.
 */
export function record(db: Database, event: DomainEvent, now: number): RecordedEvent {
  const id = newId("evt");
  const result = insertStatement(db).run(
    id,
    event.orgId,
    event.type,
    JSON.stringify(event.data),
    event.changedFields ? JSON.stringify(event.changedFields) : null,
    now,
  );
  const set = listenersOf(db);
  if (set.size) queueMicrotask(() => set.forEach((fn) => fn()));
  return { ...event, id, seq: Number(result.lastInsertRowid), createdAt: now };
}

/**
 * Calls `fn` (on a microtask) after events are recorded, so a dispatcher can wake without polling.
 * It may run for an event whose transaction later rolled back: listeners must read the table, not trust the call.
 */
export function onRecorded(db: Database, fn: Listener): () => void {
  const set = listenersOf(db);
  set.add(fn);
  return () => set.delete(fn);
}
