// Tells the dispatcher that deliveries became due outside fan-out (manual retry, test ping, replay), so it wakes without polling.
import type { Database } from "bun:sqlite";
import { perDatabase } from "../db/per-database";

type Listener = (webhookId: string, dueAt: number) => void;
const listenersOf = perDatabase(() => new Set<Listener>());

/** Call after the transaction that queued the deliveries committed. */
export function announceQueued(db: Database, webhookId: string, dueAt: number): void {
  listenersOf(db).forEach((fn) => fn(webhookId, dueAt));
}

/** Subscribes to announcements for this database; returns the unsubscribe function. */
export function onQueued(db: Database, fn: Listener): () => void {
  const set = listenersOf(db);
  set.add(fn);
  return () => set.delete(fn);
}
