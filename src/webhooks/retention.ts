// Retention: deletes outbox events and ended deliveries (with their attempts) older than the retention period, in small batches, each a unit of the group-commit writer.
import type { Writer } from "../db/writer";
import type { Outbox } from "../events/outbox";
import type { WebhookStore } from "./store";

const BATCH = 500;
const DAY_MS = 86_400_000;

export interface RetentionDeps {
  /** For reads outside a unit: the endpoints to walk. */
  stores: { webhooks: WebhookStore };
  writer: Writer<{ webhooks: WebhookStore; outbox: Outbox }>;
}

/**
 * Prunes everything older than `retentionDays` before `now`: events already fanned out, and deliveries
 * that have ended (pending ones are kept whatever their age). Each batch is one short statement in a unit of the
 * writer (a savepoint in the batch of whatever else is being written), and the next batch waits for that commit,
 * so API writes are never held up for long; `keepGoing` stops it early (shutdown).
 */
export async function pruneExpired(
  deps: RetentionDeps,
  now: number,
  retentionDays: number,
  keepGoing: () => boolean = () => true,
): Promise<{ events: number; deliveries: number }> {
  const cutoff = now - retentionDays * DAY_MS;
  const removed = { events: 0, deliveries: 0 };
  while (keepGoing()) {
    const n = await deps.writer.write((tx) => tx.outbox.prune(cutoff, BATCH));
    removed.events += n;
    if (n < BATCH) break;
  }
  for (const webhookId of keepGoing() ? await deps.stores.webhooks.webhookIds() : []) {
    while (keepGoing()) {
      const n = await deps.writer.write((tx) => tx.webhooks.pruneDeliveries(webhookId, cutoff, BATCH));
      removed.deliveries += n;
      if (n < BATCH) break;
    }
  }
  return removed;
}
