// Fan-out: turns outbox events into one pending delivery per matching active endpoint, in the unit of work that marks them dispatched.
import { createHash } from "node:crypto";
import type { Writer } from "../db/writer";
import type { EventRow, Outbox } from "../events/outbox";
import { toIso } from "../lib/time";
import { subscribes } from "./event-types";
import { MAX_ATTEMPTS } from "./retry-policy";
import type { WebhookStore } from "./store";

/** What fan-out's unit of work is given: the stores bound to its transaction. */
export interface FanOutTx {
  webhooks: WebhookStore;
  outbox: Outbox;
}

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

type Target = { id: string; events: string[] };
type Targets = (orgId: string) => Promise<Target[]>;

/** The active endpoints of each organization, read once per unit of work. */
function cachedTargets(store: WebhookStore): Targets {
  const cache = new Map<string, Target[]>();
  return async (orgId) => {
    let list = cache.get(orgId);
    if (!list) cache.set(orgId, (list = (await store.activeWebhooksOf(orgId)).map((w) => ({ id: w.id, events: JSON.parse(w.events) as string[] }))));
    return list;
  };
}

/**
 * Creates the deliveries of one event, due now. A `webhook.test` event goes only to the endpoint named in
 * its data; every other event to each active endpoint of its organization that subscribes to it.
 * Call inside a unit of work, together with markDispatched.
 */
async function queueEvent(store: WebhookStore, targets: Targets, e: EventRow, now: number): Promise<QueuedDelivery[]> {
  let ids: string[];
  if (e.type === "webhook.test") {
    const target = (JSON.parse(e.data) as { webhook_id?: string }).webhook_id;
    ids = (await targets(e.org_id)).some((w) => w.id === target) ? [target!] : [];
  } else {
    ids = (await targets(e.org_id)).filter((w) => subscribes(w.events, e.type)).map((w) => w.id);
  }
  if (ids.length === 0) return [];
  const payload = buildPayload(e);
  const queued: QueuedDelivery[] = [];
  for (const webhookId of ids) {
    const id = deliveryIdFor(e.id, webhookId);
    await store.insertDelivery({
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
    queued.push({ id, webhookId });
  }
  return queued;
}

/** Fans out one event just recorded in the same unit (the test ping does this); `tx` is the unit's. */
export async function fanOutEvent(tx: FanOutTx, e: EventRow, now: number): Promise<QueuedDelivery[]> {
  const queued = await queueEvent(tx.webhooks, cachedTargets(tx.webhooks), e, now);
  await tx.outbox.markDispatched(e.seq, now);
  return queued;
}

/**
 * Fans out up to `limit` undispatched events, oldest first, as one unit of the group-commit writer (a savepoint of
 * its batch): the deliveries exist if and only if the events are marked dispatched, so a crash can neither lose nor
 * duplicate them. Resolves once that unit has committed. The events are read inside the unit, so two fan-outs
 * queued together never take the same event (the dispatcher runs one at a time all the same).
 */
export function fanOutPending(writer: Writer<FanOutTx>, now: number, limit: number): Promise<{ events: number; queued: QueuedDelivery[] }> {
  return writer.write(async (tx) => {
    const events = await tx.outbox.undispatched(limit);
    const targets = cachedTargets(tx.webhooks);
    const queued: QueuedDelivery[] = [];
    for (const e of events) queued.push(...(await queueEvent(tx.webhooks, targets, e, now)));
    // The whole batch in one call: one statement on PostgreSQL instead of one per event.
    await tx.outbox.markDispatched(
      events.map((e) => e.seq),
      now,
    );
    return { events: events.length, queued };
  });
}

/**
 * Queues the events an endpoint missed since `since` (it had no delivery for them) and requeues its
 * deliveries cancelled since then; used when re-enabling with replay. `store` is the unit's.
 */
export async function replayMissed(
  store: WebhookStore,
  webhook: { id: string; org_id: string; events: string[] },
  since: number,
  now: number,
): Promise<number> {
  let n = await store.requeueCancelledSince(webhook.id, webhook.org_id, since, MAX_ATTEMPTS, now);
  const only: Targets = async () => [{ id: webhook.id, events: webhook.events }];
  for (const e of await store.missedEvents(webhook.id, webhook.org_id, since)) n += (await queueEvent(store, only, e, now)).length;
  return n;
}
