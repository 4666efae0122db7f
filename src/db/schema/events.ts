// The outbox: every domain change records one event here in the same transaction as the change.
import { sqliteTable, text, integer, index } from "drizzle-orm/sqlite-core";
import { orgs } from "./orgs";

/** Every event type the product emits, in one place (webhooks subscribe to these). */
export const EVENT_TYPES = [
  "ticket.created",
  "ticket.updated",
  "ticket.deleted",
  "comment.created",
  "comment.redacted",
  "contact.created",
  "contact.updated",
  "contact.deleted",
  "file.uploaded",
  "file.deleted",
  "webhook.test",
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const events = sqliteTable(
  "events",
  {
    /** Monotonic order of recording; consumers read the outbox in this order. */
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    id: text("id").notNull().unique(),
    orgId: text("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    type: text("type", { enum: EVENT_TYPES }).notNull(),
    /** JSON: the event's `data` as it will be delivered. */
    data: text("data").notNull(),
    /** JSON array of the changed field names, for `*.updated` events; null otherwise. */
    changedFields: text("changed_fields"),
    createdAt: integer("created_at").notNull(),
    /** Set once the event has been fanned out to webhook deliveries; null while waiting. */
    dispatchedAt: integer("dispatched_at"),
  },
  (t) => [index("events_undispatched").on(t.dispatchedAt, t.seq), index("events_org_created").on(t.orgId, t.createdAt)],
);
