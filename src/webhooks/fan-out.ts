// Fan-out: turns outbox events into one pending delivery per matching active endpoint, in the transaction that marks them dispatched.
import type { Database } from "bun:sqlite";
import { createHash } from "node:crypto";
import { writerFor } from "../db/writer";
import { toIso } from "../lib/time";
import { writerCommit, type Commit } from "./dispatch-commit";
import { subscribes } from "./event-types";
import { MAX_ATTEMPTS } from "./retry-policy";
import { webhookStore, type EventRow, type WebhookStore } from "./store";

/**
 * The exact body every attempt of a delivery sends: `{"event", "timestamp", "data"}`. `data` is the
 * resource as the API returns it; for `*.updated` events it also carries `changed_fields`.
 */
export function buildPayload(e: Pick<EventRow, "type" | "data" | "changed_fields" | "created_at">): string {
  const data = JSON.parse(e.data) as Record<string, unknown>;
  const changed = e.changed_fields ? (JSON.parse(e.changed_fields) as string[]) : null;
  return JSON.stringify({ event: e.type, timestamp: toIso(e.created_at), data: changed ? { ...data, changed_fields: changed } : data });
}

const ID_SPACE = 36n ** 16n;

/**
 * The delivery id (`dlv_` + 16 base36 characters, like every id) of an event to an endpoint, derived from the
 * two random ids rather than drawn anew. Should the same event ever be fanned out again (fan-out commits with
 * synchronous=FULL, so a committed one is not lost; this is the second line of defence), it therefore yields the
 * same `webhook-id`, and receivers still de-duplicate.
 */
export function deliveryIdFor(eventId: string, webhookId: string): string {
  const digest = createHash("sha256").update(`${eventId}/${webhookId}`).digest("hex");
  return `dlv_${(BigInt(`0x${digest.slice(0, 24)}`) % ID_SPACE).toString(36).padStart(16, "0")}`;
}

export interface QueuedDelivery {
  id: string;
  webhookId: string;
}

type Targets = (orgId: string) => { id: string; events: string[] }[];

function cachedTargets(store: WebhookStore): Targets {
  const cache = new Map<string, { id: string; events: string[] }[]>();
  return (orgId) => {
    let list = cache.get(orgId);
    if (!list) cache.set(orgId, (list = store.activeWebhooksOf(orgId).map((w) => ({ id: w.id, events: JSON.parse(w.events) as string[] }))));
    return list;
  };
}

/**
 * Creates the deliveries of one event, due now. A `webhook.test` event goes only to the endpoint named in
 * its data; every other event to each active endpoint of its organization that subscribes to it.
 * Call inside a transaction together with markDispatched.
 */
function queueEvent(store: WebhookStore, targets: Targets, e: EventRow, now: number): QueuedDelivery[] {
  let ids: string[];
  if (e.type === "webhook.test") {
    const target = (JSON.parse(e.data) as { webhook_id?: string }).webhook_id;
    ids = targets(e.org_id).some((w) => w.id === target) ? [target!] : [];
  } else {
    ids = targets(e.org_id)
      .filter((w) => subscribes(w.events, e.type))
      .map((w) => w.id);
  }
  if (ids.length === 0) return [];
  const payload = buildPayload(e);
  return ids.map((webhookId) => {
    const id = deliveryIdFor(e.id, webhookId);
    store.insertDelivery({
      id,
      org_id: e.org_id,
      webhook_id: webhookId,
      event_id: e.id,
      event_type: e.type,
      payload,
      max_attempts: MAX_ATTEMPTS,
      next_attempt_at: now,
      created_at: now,
      updated_at: now,
    });
    return { id, webhookId };
  });
}

/** Fans out one already-recorded event now (the test ping does this in its own transaction). */
export function fanOutEvent(sqlite: Database, e: EventRow, now: number): QueuedDelivery[] {
  const store = webhookStore(sqlite);
  const queued = queueEvent(store, cachedTargets(store), e, now);
  store.markDispatched(e.seq, now);
  return queued;
}

/**
 * Fans out up to `limit` undispatched events, oldest first, as one write of the group-commit writer (`commit` runs
 * it, in its own savepoint): the deliveries exist if and only if the events are marked dispatched, so a crash can
 * neither lose nor duplicate them. Resolves once that write has committed. The events are read when the write
 * runs, in its batch, so two fan-outs queued together never take the same event (the dispatcher runs one at a time
 * all the same).
 */
export function fanOutPending(
  sqlite: Database,
  now: number,
  limit = 500,
  commit: Commit = writerCommit(writerFor(sqlite)),
): Promise<{ events: number; queued: QueuedDelivery[] }> {
  const store = webhookStore(sqlite);
  return commit(() => {
    const events = store.undispatchedEvents(limit);
    const targets = cachedTargets(store);
    const queued: QueuedDelivery[] = [];
    for (const e of events) {
      queued.push(...queueEvent(store, targets, e, now));
      store.markDispatched(e.seq, now);
    }
    return { events: events.length, queued };
  });
}

/**
 * Queues the events an endpoint missed since `since` (it had no delivery for them) and requeues its
 * deliveries cancelled since then; used when re-enabling with replay. Call inside a transaction.
 */
export function replayMissed(sqlite: Database, webhook: { id: string; org_id: string; events: string[] }, since: number, now: number): number {
  const store = webhookStore(sqlite);
  let n = store.requeueCancelledSince(webhook.id, since, MAX_ATTEMPTS, now);
  const only: Targets = () => [{ id: webhook.id, events: webhook.events }];
  for (const e of store.missedEvents(webhook.id, webhook.org_id, since)) n += queueEvent(store, only, e, now).length;
  return n;
}
