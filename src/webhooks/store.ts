// The webhooks data layer: every SQL statement about endpoints, deliveries, attempts and the outbox reads of fan-out, prepared once per database.
import type { Database } from "bun:sqlite";
import { perDatabase } from "../db/per-database";
import { type EventType, events } from "../db/schema/events";
import { columnList, columnNames, type RawRow } from "../db/schema/raw-row";
import { type DeliveryStatus, webhookAttempts, webhookDeliveries, webhooks } from "../db/schema/webhooks";

/** Rows as SQL reads them (snake_case keys, integer times, `active` 0/1), derived from the schema. */
export type WebhookRow = RawRow<typeof webhooks>;
export type DeliveryRow = RawRow<typeof webhookDeliveries>;
export type AttemptRow = RawRow<typeof webhookAttempts>;
/** An outbox event as fan-out reads it: everything but its own bookkeeping (`dispatched_at`). */
export type EventRow = Omit<RawRow<typeof events>, "dispatched_at">;

/** A due delivery with what the attempt needs from its endpoint. */
export type DueDelivery = Pick<DeliveryRow, "id" | "webhook_id" | "org_id" | "payload"> &
  Pick<WebhookRow, "url" | "secret" | "previous_secret" | "previous_secret_expires_at">;

const WEBHOOK_NAMES = columnNames(webhooks);
const WEBHOOK_COLUMNS = columnList(webhooks);
const DELIVERY_NAMES = columnNames(webhookDeliveries);
const DELIVERY_COLUMNS = columnList(webhookDeliveries);
const ATTEMPT_COLUMNS = columnList(webhookAttempts);
/** The attempt's id is assigned by SQLite (autoincrement). */
const ATTEMPT_INSERT_NAMES = columnNames(webhookAttempts).filter((c): c is Exclude<keyof AttemptRow, "id"> => c !== "id");
const EVENT_NAMES = columnNames(events).filter((c): c is keyof EventRow => c !== "dispatched_at");
const EVENT_COLUMNS = EVENT_NAMES.join(", ");
const EVENT_COLUMNS_E = EVENT_NAMES.map((c) => `e.${c}`).join(", ");

/** Values of the schema's closed lists as SQL literals: a typo is a type error, not a query that matches nothing. */
const statusSql = (s: DeliveryStatus) => `'${s}'`;
const eventTypeSql = (t: EventType) => `'${t}'`;

function buildStore(db: Database) {
  const q = {
    insertWebhook: db.prepare(`INSERT INTO webhooks (${WEBHOOK_COLUMNS}) VALUES (${WEBHOOK_NAMES.map(() => "?").join(", ")})`),
    webhookById: db.prepare<WebhookRow, [string, string]>(`SELECT ${WEBHOOK_COLUMNS} FROM webhooks WHERE id = ? AND org_id = ?`),
    webhookByIdAnyOrg: db.prepare<WebhookRow, [string]>(`SELECT ${WEBHOOK_COLUMNS} FROM webhooks WHERE id = ?`),
    webhookPage: db.prepare<WebhookRow, [string, number, number]>(
      `SELECT ${WEBHOOK_COLUMNS} FROM webhooks WHERE org_id = ? ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`,
    ),
    webhookCount: db.prepare<{ n: number }, [string]>(`SELECT COUNT(*) AS n FROM webhooks WHERE org_id = ?`),
    activeForOrg: db.prepare<Pick<WebhookRow, "id" | "events">, [string]>(`SELECT id, events FROM webhooks WHERE org_id = ? AND active = 1`),
    updateWebhook: db.prepare(
      `UPDATE webhooks SET url = ?, events = ?, description = ?, active = ?, disabled_reason = ?, disabled_at = ?, consecutive_failures = ?, updated_at = ? WHERE id = ? AND org_id = ?`,
    ),
    rotateSecret: db.prepare(
      `UPDATE webhooks SET previous_secret = secret, previous_secret_expires_at = ?, secret = ?, updated_at = ? WHERE id = ? AND org_id = ?`,
    ),
    deleteWebhook: db.prepare(`DELETE FROM webhooks WHERE id = ? AND org_id = ?`),
    disableWebhook: db.prepare(`UPDATE webhooks SET active = 0, disabled_reason = ?, disabled_at = ?, updated_at = ? WHERE id = ?`),
    // The guard skips the write when nothing changes (every success resets the count).
    setFailures: db.prepare(`UPDATE webhooks SET consecutive_failures = ? WHERE id = ? AND consecutive_failures != ?`),
    webhookIds: db.prepare<{ id: string }, []>(`SELECT id FROM webhooks`),
    webhookOrg: db.prepare<{ org_id: string }, [string]>(`SELECT org_id FROM webhooks WHERE id = ?`),
    activeWithNextDue: db.prepare<{ id: string; next: number | null }, []>(
      `SELECT w.id, (SELECT MIN(d.next_attempt_at) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.status = ${statusSql("pending")}) AS next FROM webhooks w WHERE w.active = 1`,
    ),

    insertDelivery: db.prepare(`INSERT INTO webhook_deliveries (${DELIVERY_COLUMNS}) VALUES (${DELIVERY_NAMES.map(() => "?").join(", ")})`),
    deliveryById: db.prepare<DeliveryRow, [string, string, string]>(
      `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = ? AND webhook_id = ? AND org_id = ?`,
    ),
    deliveryState: db.prepare<Pick<DeliveryRow, "id" | "webhook_id" | "status" | "attempt_count" | "max_attempts">, [string]>(
      `SELECT id, webhook_id, status, attempt_count, max_attempts FROM webhook_deliveries WHERE id = ?`,
    ),
    deliveryPage: db.prepare<DeliveryRow, [string, string, number, number]>(
      `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = ? AND org_id = ? ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`,
    ),
    deliveryPageByStatus: db.prepare<DeliveryRow, [string, string, string, number, number]>(
      `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = ? AND org_id = ? AND status = ? ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`,
    ),
    deliveryCount: db.prepare<{ n: number }, [string, string]>(`SELECT COUNT(*) AS n FROM webhook_deliveries WHERE webhook_id = ? AND org_id = ?`),
    deliveryCountByStatus: db.prepare<{ n: number }, [string, string, string]>(
      `SELECT COUNT(*) AS n FROM webhook_deliveries WHERE webhook_id = ? AND org_id = ? AND status = ?`,
    ),
    // Uses deliveries_webhook_due (webhook_id, status, next_attempt_at): reads only this endpoint's due rows, oldest first.
    dueFor: db.prepare<DueDelivery, [string, number, number]>(
      `SELECT d.id, d.webhook_id, d.org_id, d.payload, w.url, w.secret, w.previous_secret, w.previous_secret_expires_at
       FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
       WHERE d.webhook_id = ? AND d.status = ${statusSql("pending")} AND d.next_attempt_at <= ? AND w.active = 1
       ORDER BY d.next_attempt_at LIMIT ?`,
    ),
    nextDueAfter: db.prepare<{ next: number | null }, [string, number]>(
      `SELECT MIN(next_attempt_at) AS next FROM webhook_deliveries WHERE webhook_id = ? AND status = ${statusSql("pending")} AND next_attempt_at > ?`,
    ),
    finishAttempt: db.prepare(`UPDATE webhook_deliveries SET status = ?, attempt_count = ?, next_attempt_at = ?, updated_at = ? WHERE id = ?`),
    cancelPending: db.prepare(
      `UPDATE webhook_deliveries SET status = ${statusSql("cancelled")}, next_attempt_at = NULL, updated_at = ? WHERE webhook_id = ? AND status = ${statusSql("pending")}`,
    ),
    requeue: db.prepare(`UPDATE webhook_deliveries SET status = ${statusSql("pending")}, next_attempt_at = ?, max_attempts = ?, updated_at = ? WHERE id = ?`),
    requeueCancelledSince: db.prepare(
      `UPDATE webhook_deliveries SET status = ${statusSql("pending")}, next_attempt_at = ?, max_attempts = attempt_count + ?, updated_at = ? WHERE webhook_id = ? AND status = ${statusSql("cancelled")} AND updated_at >= ?`,
    ),
    // Events of the org since `since` this endpoint has no delivery for (uses events_org_created and deliveries_event).
    missedEvents: db.prepare<EventRow, [string, number, string]>(
      `SELECT ${EVENT_COLUMNS_E} FROM events e
       WHERE e.org_id = ? AND e.created_at >= ? AND e.dispatched_at IS NOT NULL AND e.type != ${eventTypeSql("webhook.test")}
         AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.webhook_id = ?)
       ORDER BY e.seq`,
    ),

    insertAttempt: db.prepare(`INSERT INTO webhook_attempts (${ATTEMPT_INSERT_NAMES.join(", ")}) VALUES (${ATTEMPT_INSERT_NAMES.map(() => "?").join(", ")})`),
    attemptsOf: db.prepare<AttemptRow, [string]>(`SELECT ${ATTEMPT_COLUMNS} FROM webhook_attempts WHERE delivery_id = ? ORDER BY id`),

    undispatched: db.prepare<EventRow, [number]>(`SELECT ${EVENT_COLUMNS} FROM events WHERE dispatched_at IS NULL ORDER BY seq LIMIT ?`),
    markDispatched: db.prepare(`UPDATE events SET dispatched_at = ? WHERE seq = ?`),
    pruneEvents: db.prepare(`DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE dispatched_at IS NOT NULL AND dispatched_at < ? LIMIT ?)`),
    pruneDeliveries: db.prepare(
      `DELETE FROM webhook_deliveries WHERE rowid IN (SELECT rowid FROM webhook_deliveries WHERE webhook_id = ? AND created_at < ? AND status != ${statusSql("pending")} LIMIT ?)`,
    ),
  };

  return {
    insertWebhook(r: WebhookRow) {
      q.insertWebhook.run(...WEBHOOK_NAMES.map((c) => r[c]));
    },
    webhook: (id: string, orgId: string) => q.webhookById.get(id, orgId),
    webhookAnyOrg: (id: string) => q.webhookByIdAnyOrg.get(id),
    webhookPage: (orgId: string, limit: number, offset: number) => q.webhookPage.all(orgId, limit, offset),
    webhookCount: (orgId: string) => q.webhookCount.get(orgId)?.n ?? 0,
    activeWebhooksOf: (orgId: string) => q.activeForOrg.all(orgId),
    updateWebhook(r: WebhookRow) {
      q.updateWebhook.run(r.url, r.events, r.description, r.active, r.disabled_reason, r.disabled_at, r.consecutive_failures, r.updated_at, r.id, r.org_id);
    },
    rotateSecret: (id: string, orgId: string, secret: string, previousExpiresAt: number, now: number) =>
      q.rotateSecret.run(previousExpiresAt, secret, now, id, orgId),
    deleteWebhook: (id: string, orgId: string) => q.deleteWebhook.run(id, orgId).changes > 0,
    /** Disables the endpoint and cancels its pending deliveries (call inside a transaction). */
    disableWebhook(id: string, reason: string, now: number) {
      q.disableWebhook.run(reason, now, now, id);
      q.cancelPending.run(now, id);
    },
    cancelPending: (webhookId: string, now: number) => q.cancelPending.run(now, webhookId).changes,
    setConsecutiveFailures: (id: string, n: number) => q.setFailures.run(n, id, n),
    webhookIds: () => q.webhookIds.all().map((r) => r.id),
    /** The organization of an endpoint (any state), or null when it no longer exists. */
    webhookOrg: (id: string) => q.webhookOrg.get(id)?.org_id ?? null,
    activeWithNextDue: () => q.activeWithNextDue.all(),

    /** A new delivery: pending, not yet attempted. */
    insertDelivery(r: Omit<DeliveryRow, "status" | "attempt_count">) {
      const row: DeliveryRow = { ...r, status: "pending", attempt_count: 0 };
      q.insertDelivery.run(...DELIVERY_NAMES.map((c) => row[c]));
    },
    delivery: (id: string, webhookId: string, orgId: string) => q.deliveryById.get(id, webhookId, orgId),
    deliveryState: (id: string) => q.deliveryState.get(id),
    deliveryPage(webhookId: string, orgId: string, status: DeliveryStatus | undefined, limit: number, offset: number) {
      return status ? q.deliveryPageByStatus.all(webhookId, orgId, status, limit, offset) : q.deliveryPage.all(webhookId, orgId, limit, offset);
    },
    deliveryCount(webhookId: string, orgId: string, status: DeliveryStatus | undefined) {
      return (status ? q.deliveryCountByStatus.get(webhookId, orgId, status) : q.deliveryCount.get(webhookId, orgId))?.n ?? 0;
    },
    dueFor: (webhookId: string, now: number, limit: number) => q.dueFor.all(webhookId, now, limit),
    nextDueAfter: (webhookId: string, now: number) => q.nextDueAfter.get(webhookId, now)?.next ?? null,
    finishAttempt: (id: string, status: DeliveryStatus, attemptCount: number, nextAttemptAt: number | null, now: number) =>
      q.finishAttempt.run(status, attemptCount, nextAttemptAt, now, id),
    requeue: (id: string, nextAttemptAt: number, maxAttempts: number, now: number) => q.requeue.run(nextAttemptAt, maxAttempts, now, id),
    requeueCancelledSince: (webhookId: string, since: number, extraAttempts: number, now: number) =>
      q.requeueCancelledSince.run(now, extraAttempts, now, webhookId, since).changes,
    missedEvents: (webhookId: string, orgId: string, since: number) => q.missedEvents.all(orgId, since, webhookId),

    insertAttempt(a: Omit<AttemptRow, "id">) {
      q.insertAttempt.run(...ATTEMPT_INSERT_NAMES.map((c) => a[c]));
    },
    attemptsOf: (deliveryId: string) => q.attemptsOf.all(deliveryId),

    undispatchedEvents: (limit: number) => q.undispatched.all(limit),
    markDispatched: (seq: number, now: number) => q.markDispatched.run(now, seq),
    pruneEvents: (cutoff: number, limit: number) => q.pruneEvents.run(cutoff, limit).changes,
    pruneDeliveries: (webhookId: string, cutoff: number, limit: number) => q.pruneDeliveries.run(webhookId, cutoff, limit).changes,
  };
}

export type WebhookStore = ReturnType<typeof buildStore>;
/** The store for this database, built on first use. */
export const webhookStore: (db: Database) => WebhookStore = perDatabase(buildStore);
