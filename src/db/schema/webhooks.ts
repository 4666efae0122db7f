// Tables for webhook endpoints, their deliveries (one per event and endpoint) and every delivery attempt.
import { sqliteTable, text, integer, index } from "drizzle-orm/sqlite-core";
import { EVENT_TYPES } from "./events";
import { orgs } from "./orgs";

/** pending: waiting for its next attempt; succeeded: a 2xx arrived; failed: out of attempts (or 410 Gone); cancelled: its endpoint was disabled. */
export const DELIVERY_STATUSES = ["pending", "succeeded", "failed", "cancelled"] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export const webhooks = sqliteTable(
  "webhooks",
  {
    id: text("id").primaryKey(),
    orgId: text("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    url: text("url").notNull(),
    /** JSON array of event types, or ["*"]. */
    events: text("events").notNull(),
    description: text("description"),
    secret: text("secret").notNull(),
    /** After a rotation the old secret keeps signing (beside the new one) until this time. */
    previousSecret: text("previous_secret"),
    previousSecretExpiresAt: integer("previous_secret_expires_at"),
    active: integer("active", { mode: "boolean" }).notNull(),
    disabledReason: text("disabled_reason"),
    /** When the endpoint was last disabled (by PATCH, a 410 or 20 failed deliveries); re-enabling may replay events since then. */
    disabledAt: integer("disabled_at"),
    /** Deliveries that ended failed in a row; reset by any success. */
    consecutiveFailures: integer("consecutive_failures").notNull().default(0),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("webhooks_org_created").on(t.orgId, t.createdAt, t.id)],
);

export const webhookDeliveries = sqliteTable(
  "webhook_deliveries",
  {
    id: text("id").primaryKey(),
    orgId: text("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    webhookId: text("webhook_id")
      .notNull()
      .references(() => webhooks.id, { onDelete: "cascade" }),
    eventId: text("event_id").notNull(),
    eventType: text("event_type", { enum: EVENT_TYPES }).notNull(),
    /** The exact JSON body sent on every attempt (so retries are byte-identical). */
    payload: text("payload").notNull(),
    status: text("status", { enum: DELIVERY_STATUSES }).notNull(),
    attemptCount: integer("attempt_count").notNull().default(0),
    /** The delivery ends failed once attempt_count reaches this: 4 at first; a manual retry allows one more, a replay four more. */
    maxAttempts: integer("max_attempts").notNull().default(4),
    /** When the next attempt is due (ms); null once the delivery has ended. */
    nextAttemptAt: integer("next_attempt_at"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    // The dispatcher asks per endpoint for its due deliveries (oldest due first, ties by id), so one slow endpoint's
    // backlog is never scanned for another's and equal due times need no sort.
    index("deliveries_webhook_due").on(t.webhookId, t.status, t.nextAttemptAt, t.id),
    index("deliveries_webhook_created").on(t.webhookId, t.createdAt, t.id),
    index("deliveries_event").on(t.eventId),
  ],
);

export const webhookAttempts = sqliteTable(
  "webhook_attempts",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    deliveryId: text("delivery_id")
      .notNull()
      .references(() => webhookDeliveries.id, { onDelete: "cascade" }),
    attemptedAt: integer("attempted_at").notNull(),
    statusCode: integer("status_code"),
    error: text("error"),
    durationMs: integer("duration_ms").notNull(),
    /** First 1 KiB of the response body. */
    responseBody: text("response_body"),
  },
  (t) => [index("attempts_delivery").on(t.deliveryId, t.id)],
);
