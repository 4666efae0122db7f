// Webhooks domain: register, read, change, rotate, delete endpoints; test pings; the delivery log and manual retries. No Elysia here.
import type { Config } from "../config";
import type { DeliveryStatus } from "../db/schema/webhooks";
import type { Writer } from "../db/writer";
import { type ApiError, errors } from "../errors";
import type { Outbox } from "../events/outbox";
import type { Clock } from "../lib/clock";
import { newId } from "../lib/ids";
import { offsetPage, type PageQuery } from "../lib/pagination";
import { toIso, toIsoOrNull } from "../lib/time";
import { EVENT_TYPES } from "../db/schema/events";
import { ALL_EVENTS, EVENT_DESCRIPTIONS } from "./event-types";
import { fanOutEvent, replayMissed } from "./fan-out";
import {
  DESCRIPTION_MAX,
  URL_MAX,
  type CreateWebhook,
  type Delivery,
  type DeliveryDetail,
  type DeliveryList,
  type EventTypeList,
  type UpdateWebhook,
  type Webhook,
  type WebhookList,
  type WebhookWithSecret,
} from "./model";
import { generateSecret } from "./signing";
import { AddressRefusedError, allowHint, createAddressGuard, hostOf, ResolveError, resolveChecked, systemResolver, type Resolver } from "./ssrf";
import type { AttemptRow, DeliveryRow, WebhookRow, WebhookStore } from "./store";
import { maskUrl, normalizeWebhookUrl, restoreMaskedCredentials } from "./url";

/** What a webhooks unit of work is given: the stores bound to its transaction. */
export interface WebhooksTx {
  webhooks: WebhookStore;
  outbox: Outbox;
}

export interface Deps {
  /** For reads: committed rows only. */
  stores: { webhooks: WebhookStore };
  /** Every change goes through it: committed with the other writes of its batch, answered after the fsync. */
  writer: Writer<WebhooksTx>;
  clock: Clock;
  config: Pick<Config, "webhookAllowPrivate" | "webhookAllowCidrs" | "webhookMaxPerOrg">;
  /** DNS for the registration-time address check; the system resolver unless a test substitutes one. */
  resolve?: Resolver;
}

/** For 24 hours after a rotation, deliveries carry signatures with both the old and the new secret. */
export const ROTATION_OVERLAP_MS = 24 * 60 * 60 * 1000;

export function toWebhook(r: WebhookRow, now: number): Webhook {
  return {
    id: r.id,
    // The stored URL keeps its credentials (deliveries need them); no response ever shows them.
    url: maskUrl(r.url),
    events: JSON.parse(r.events) as string[],
    description: r.description,
    active: r.active === 1,
    disabled_reason: r.disabled_reason,
    disabled_at: toIsoOrNull(r.disabled_at),
    previous_secret_expires_at:
      r.previous_secret && r.previous_secret_expires_at !== null && r.previous_secret_expires_at > now ? toIso(r.previous_secret_expires_at) : null,
    created_at: toIso(r.created_at),
    updated_at: toIso(r.updated_at),
  };
}

export function toDelivery(r: DeliveryRow): Delivery {
  return {
    id: r.id,
    webhook_id: r.webhook_id,
    event_id: r.event_id,
    event: r.event_type,
    status: r.status,
    attempt_count: r.attempt_count,
    next_attempt_at: toIsoOrNull(r.next_attempt_at),
    created_at: toIso(r.created_at),
    updated_at: toIso(r.updated_at),
  };
}

function toAttempt(a: AttemptRow) {
  return { attempted_at: toIso(a.attempted_at), status_code: a.status_code, error: a.error, duration_ms: a.duration_ms, response_body: a.response_body };
}

function checkDescription(description: string | null | undefined): string | null {
  if (description == null) return null;
  if ([...description].length > DESCRIPTION_MAX) throw errors.validation([{ field: "description", message: `must be at most ${DESCRIPTION_MAX} characters.` }]);
  return description;
}

/** Duplicates dropped, order kept; `*` alone stands for everything. */
function normalizeEvents(events: readonly string[]): string[] {
  if (events.includes(ALL_EVENTS)) return [ALL_EVENTS];
  return [...new Set(events)];
}

/**
 * Checks a target URL and returns the normal form to store: strictly parsed (see normalizeWebhookUrl), and
 * every address its host resolves to allowed by the SSRF policy (the dispatcher checks again on every
 * attempt). A refusal is a 400 naming `url`; an address refusal says which setting would allow it.
 */
export async function checkWebhookUrl(deps: Pick<Deps, "config" | "resolve">, raw: string): Promise<string> {
  const bad = (message: string) => errors.validation([{ field: "url", message }], `The request body is not valid: url ${message}`);
  const parsed = normalizeWebhookUrl(raw, URL_MAX);
  if (!parsed.ok) throw bad(parsed.message);
  const url = new URL(parsed.url);
  const guard = createAddressGuard({ allowPrivate: deps.config.webhookAllowPrivate, allowCidrs: deps.config.webhookAllowCidrs });
  try {
    await resolveChecked(hostOf(url), guard, deps.resolve ?? systemResolver);
  } catch (err) {
    if (err instanceof AddressRefusedError) throw bad(`is not allowed: ${err.message}. ${allowHint(err.kind)}`);
    if (err instanceof ResolveError) throw bad(`is not reachable: ${err.message}.`);
    throw err;
  }
  return parsed.url;
}

function webhookLimitReached(max: number): ApiError {
  return errors.conflict(
    `This organization already has ${max} webhooks, the most allowed (--webhook-max-per-org / CLIENTCOVE_WEBHOOK_MAX_PER_ORG); delete one first.`,
    "webhook_limit_reached",
  );
}

export function listEventTypes(): EventTypeList {
  return { data: EVENT_TYPES.map((type) => ({ type, description: EVENT_DESCRIPTIONS[type] })) };
}

export async function createWebhook(deps: Deps, orgId: string, input: CreateWebhook): Promise<WebhookWithSecret> {
  const description = checkDescription(input.description);
  const max = deps.config.webhookMaxPerOrg;
  // Checked before the DNS lookup (fail fast) and again in the unit that inserts.
  if ((await deps.stores.webhooks.webhookCount(orgId)) >= max) throw webhookLimitReached(max);
  const url = await checkWebhookUrl(deps, input.url);
  const now = deps.clock.now();
  const row: WebhookRow = {
    id: newId("wh"),
    org_id: orgId,
    url,
    events: JSON.stringify(normalizeEvents(input.events)),
    description,
    secret: generateSecret(),
    previous_secret: null,
    previous_secret_expires_at: null,
    active: 1,
    disabled_reason: null,
    disabled_at: null,
    consecutive_failures: 0,
    created_at: now,
    updated_at: now,
  };
  // The limit is checked again in the same unit as the insert: the DNS lookup awaited, other registrations may have run.
  return deps.writer.write(async (tx) => {
    if ((await tx.webhooks.webhookCount(orgId)) >= max) throw webhookLimitReached(max);
    await tx.webhooks.insertWebhook(row);
    return { ...toWebhook(row, now), secret: row.secret };
  });
}

export async function listWebhooks(deps: Deps, orgId: string, q: PageQuery): Promise<WebhookList> {
  const store = deps.stores.webhooks;
  const now = deps.clock.now();
  return offsetPage(
    q,
    await store.webhookCount(orgId),
    (limit, offset) => store.webhookPage(orgId, limit, offset),
    (r) => toWebhook(r, now),
  );
}

async function requireWebhook(store: WebhookStore, orgId: string, id: string): Promise<WebhookRow> {
  const row = await store.webhook(id, orgId);
  if (!row) throw errors.notFound("Webhook");
  return row;
}

export async function getWebhook(deps: Deps, orgId: string, id: string): Promise<Webhook> {
  return toWebhook(await requireWebhook(deps.stores.webhooks, orgId, id), deps.clock.now());
}

/**
 * Changes url, events, description and/or active. Disabling cancels pending deliveries; enabling resets
 * the failure count and sends only new events unless `replay_missed` asks for the backlog.
 */
export async function updateWebhook(deps: Deps, orgId: string, id: string, input: UpdateWebhook): Promise<Webhook> {
  const existing = await requireWebhook(deps.stores.webhooks, orgId, id);
  const description = checkDescription(input.description);
  if (input.replay_missed && input.active !== true) {
    throw errors.validation([{ field: "replay_missed", message: "only applies together with active: true." }]);
  }
  const url = input.url !== undefined ? await checkWebhookUrl(deps, restoreMaskedCredentials(input.url, existing.url)) : undefined;
  const result = await deps.writer.write(async (tx) => {
    // Read again: the URL check awaited DNS, and the dispatcher may have changed the row meanwhile.
    const before = await requireWebhook(tx.webhooks, orgId, id);
    const now = Math.max(deps.clock.now(), before.updated_at);
    const after: WebhookRow = { ...before, updated_at: now };
    if (url !== undefined) after.url = url;
    if (input.events !== undefined) after.events = JSON.stringify(normalizeEvents(input.events));
    if (input.description !== undefined) after.description = description;
    const wasActive = before.active === 1;
    if (input.active === false && wasActive) {
      after.active = 0;
      after.disabled_reason = "Disabled by PATCH.";
      after.disabled_at = now;
    } else if (input.active === true && !wasActive) {
      after.active = 1;
      after.disabled_reason = null;
      after.disabled_at = null;
      after.consecutive_failures = 0;
    }
    await tx.webhooks.updateWebhook(after);
    if (input.active === false && wasActive) await tx.webhooks.cancelPending(id, orgId, now);
    if (input.active === true && !wasActive && input.replay_missed && before.disabled_at !== null) {
      const replayed = await replayMissed(tx.webhooks, { id, org_id: orgId, events: JSON.parse(after.events) as string[] }, before.disabled_at, now);
      if (replayed > 0) await tx.webhooks.announceDue(id, now);
    }
    return { row: after, now };
  });
  return toWebhook(result.row, result.now);
}

/** Deletes the endpoint with its delivery log; its pending deliveries are never sent. */
export async function deleteWebhook(deps: Deps, orgId: string, id: string): Promise<void> {
  await deps.writer.write(async (tx) => {
    if (!(await tx.webhooks.deleteWebhook(id, orgId))) throw errors.notFound("Webhook");
  });
}

/** A new secret; the old one keeps signing beside it for 24 hours (a second rotation drops the oldest). */
export function rotateSecret(deps: Deps, orgId: string, id: string): Promise<WebhookWithSecret> {
  return deps.writer.write(async (tx) => {
    const before = await requireWebhook(tx.webhooks, orgId, id);
    const now = deps.clock.now();
    const secret = generateSecret();
    const expiresAt = now + ROTATION_OVERLAP_MS;
    await tx.webhooks.rotateSecret(id, orgId, secret, expiresAt, now);
    const after: WebhookRow = { ...before, previous_secret: before.secret, previous_secret_expires_at: expiresAt, secret, updated_at: now };
    return { ...toWebhook(after, now), secret };
  });
}

function webhookDisabled(): ApiError {
  return errors.conflict('The webhook is disabled; re-enable it with PATCH {"active": true} first.', "webhook_disabled");
}

/** Records a `webhook.test` event addressed to this endpoint alone and queues its delivery now. */
export function sendTestEvent(deps: Deps, orgId: string, id: string): Promise<Delivery> {
  return deps.writer.write(async (tx) => {
    const w = await requireWebhook(tx.webhooks, orgId, id);
    if (w.active !== 1) throw webhookDisabled();
    const now = deps.clock.now();
    const data = { webhook_id: id, message: "This is a test event from Client Cove." };
    const e = await tx.outbox.record({ type: "webhook.test", orgId, data }, now);
    const [queued] = await fanOutEvent(
      tx,
      { seq: e.seq, id: e.id, org_id: orgId, type: e.type, data: JSON.stringify(data), changed_fields: null, created_at: now },
      now,
    );
    const row = (await tx.webhooks.delivery(queued!.id, id, orgId))!;
    await tx.webhooks.announceDue(id, row.next_attempt_at!);
    // The unit's value is the answer (an Idempotency-Key stores it with the change).
    return toDelivery(row);
  });
}

export async function listDeliveries(deps: Deps, orgId: string, webhookId: string, q: { status?: DeliveryStatus } & PageQuery): Promise<DeliveryList> {
  const store = deps.stores.webhooks;
  await requireWebhook(store, orgId, webhookId);
  return offsetPage(
    q,
    await store.deliveryCount(webhookId, orgId, q.status),
    (limit, offset) => store.deliveryPage(webhookId, orgId, q.status, limit, offset),
    toDelivery,
  );
}

async function requireDelivery(store: WebhookStore, orgId: string, webhookId: string, deliveryId: string): Promise<DeliveryRow> {
  const row = await store.delivery(deliveryId, webhookId, orgId);
  if (!row) throw errors.notFound("Delivery");
  return row;
}

export async function getDelivery(deps: Deps, orgId: string, webhookId: string, deliveryId: string): Promise<DeliveryDetail> {
  const store = deps.stores.webhooks;
  await requireWebhook(store, orgId, webhookId);
  const row = await requireDelivery(store, orgId, webhookId, deliveryId);
  const attempts = (await store.attemptsOf(row.id, orgId)).map(toAttempt);
  return { ...toDelivery(row), payload: JSON.parse(row.payload), attempts };
}

/**
 * Sends the delivery again now, as a new attempt with the same id and body. An ended delivery gets one
 * more attempt; a pending one is simply brought forward (its remaining retries still apply).
 */
export function retryDelivery(deps: Deps, orgId: string, webhookId: string, deliveryId: string): Promise<Delivery> {
  return deps.writer.write(async (tx) => {
    const w = await requireWebhook(tx.webhooks, orgId, webhookId);
    const d = await requireDelivery(tx.webhooks, orgId, webhookId, deliveryId);
    if (w.active !== 1) throw webhookDisabled();
    const now = deps.clock.now();
    const maxAttempts = d.status === "pending" ? Math.max(d.max_attempts, d.attempt_count + 1) : d.attempt_count + 1;
    await tx.webhooks.requeue(d.id, orgId, now, maxAttempts, now);
    const row = (await tx.webhooks.delivery(d.id, webhookId, orgId))!;
    await tx.webhooks.announceDue(webhookId, row.next_attempt_at!);
    // The unit's value is the answer (an Idempotency-Key stores it with the change).
    return toDelivery(row);
  });
}
