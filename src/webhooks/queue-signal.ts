// Tells the dispatcher that deliveries became due outside fan-out (manual retry, test ping, replay), so it wakes without polling: the listening side is engine-specific, the announcing side is WebhookStore.announceDue.
import type { Database } from "bun:sqlite";
import { perDatabase } from "../db/per-database";

export type QueuedListener = (webhookId: string, dueAt: number) => void;

/**
 * How the dispatcher hears `WebhookStore.announceDue`. Engine-specific (SQLite: in process, on the next turn of the
 * event loop after the unit's batch; PostgreSQL: LISTEN/NOTIFY, delivered on commit), so the engine provides it
 * beside its stores. A call may come for a unit that rolled back: it is a hint, the dispatcher reads the table.
 */
export interface QueueSignal {
  /** Calls `fn` with the endpoint and the due time of each announcement; returns the unsubscribe function. */
  onQueued(fn: QueuedListener): () => void;
}

const listenersOf = perDatabase(() => new Set<QueuedListener>());

/**
 * Announces, for the SQLite store: the listeners run on the next turn of the event loop, so after the batch of the
 * unit that called it has committed (or rolled back), never while its transaction is open.
 */
export function announceOn(db: Database, webhookId: string, dueAt: number): void {
  const listeners = listenersOf(db);
  if (listeners.size === 0) return;
  setImmediate(() => listeners.forEach((fn) => fn(webhookId, dueAt)));
}

/** SQLite's signal: the announcements made on this connection. */
export function sqliteQueueSignal(db: Database): QueueSignal {
  const listeners = listenersOf(db);
  return {
    onQueued(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
  };
}
