// Retention: deletes outbox events and ended deliveries (with their attempts) older than the retention period, in small batches.
import type { Database } from "bun:sqlite";
import { webhookStore } from "./store";

const BATCH = 500;
const DAY_MS = 86_400_000;

/**
 * Prunes everything older than `retentionDays` before `now`: events already fanned out, and deliveries
 * that have ended (pending ones are kept whatever their age). Each batch is its own short statement and
 * the loop yields between batches, so API writes are never held up for long; `keepGoing` stops it early
 * (shutdown).
 */
export async function pruneExpired(
  sqlite: Database,
  now: number,
  retentionDays: number,
  keepGoing: () => boolean = () => true,
): Promise<{ events: number; deliveries: number }> {
  const store = webhookStore(sqlite);
  const cutoff = now - retentionDays * DAY_MS;
  const removed = { events: 0, deliveries: 0 };
  const turn = () => new Promise<void>((r) => setImmediate(r));
  while (keepGoing()) {
    const n = store.pruneEvents(cutoff, BATCH);
    removed.events += n;
    if (n < BATCH) break;
    await turn();
  }
  for (const webhookId of keepGoing() ? store.webhookIds() : []) {
    while (keepGoing()) {
      const n = store.pruneDeliveries(webhookId, cutoff, BATCH);
      removed.deliveries += n;
      if (n < BATCH) break;
      await turn();
    }
  }
  return removed;
}
