// Tells the dispatcher that deliveries became due outside fan-out (manual retry, test ping, replay), so it wakes without polling.
import type { Database } from "bun:sqlite";

type Listener = (webhookId: string, dueAt: number) => void;
const listeners = new WeakMap<Database, Set<Listener>>();

/** Call after the transaction that queued the deliveries committed. */
export function announceQueued(db: Database, webhookId: string, dueAt: number): void {
  listeners.get(db)?.forEach((fn) => fn(webhookId, dueAt));
}

/** Subscribes to announcements for this database; returns the unsubscribe function. */
export function onQueued(db: Database, fn: Listener): () => void {
  let set = listeners.get(db);
  if (!set) listeners.set(db, (set = new Set()));
  set.add(fn);
  return () => set!.delete(fn);
}
