// Retention: deletes outbox events and ended deliveries (with their attempts) older than the retention period, in small batches, each a write of the group-commit writer.
import type { Database } from "bun:sqlite";
import { writerFor } from "../db/writer";
import { writerCommit, type Commit } from "./dispatch-commit";
import { webhookStore } from "./store";

const BATCH = 500;
const DAY_MS = 86_400_000;

/**
 * Prunes everything older than `retentionDays` before `now`: events already fanned out, and deliveries
 * that have ended (pending ones are kept whatever their age). Each batch is one short statement, written through
 * `commit` (the connection's writer: a savepoint in the batch of whatever else is being written), and the next
 * batch waits for that commit, so API writes are never held up for long; `keepGoing` stops it early (shutdown).
 */
export async function pruneExpired(
  sqlite: Database,
  now: number,
  retentionDays: number,
  keepGoing: () => boolean = () => true,
  commit: Commit = writerCommit(writerFor(sqlite)),
): Promise<{ events: number; deliveries: number }> {
  const store = webhookStore(sqlite);
  const cutoff = now - retentionDays * DAY_MS;
  const removed = { events: 0, deliveries: 0 };
  while (keepGoing()) {
    const n = await commit(() => store.pruneEvents(cutoff, BATCH));
    removed.events += n;
    if (n < BATCH) break;
  }
  for (const webhookId of keepGoing() ? store.webhookIds() : []) {
    while (keepGoing()) {
      const n = await commit(() => store.pruneDeliveries(webhookId, cutoff, BATCH));
      removed.deliveries += n;
      if (n < BATCH) break;
    }
  }
  return removed;
}
