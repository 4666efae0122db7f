// Tables for tickets and their per-organization, per-status counts (kept so list totals never scan).
import { sqliteTable, text, integer, index, primaryKey } from "drizzle-orm/sqlite-core";
import { orgs, users } from "./orgs";

export const TICKET_STATUSES = ["open", "in_progress", "resolved", "closed"] as const;
export type TicketStatus = (typeof TICKET_STATUSES)[number];
export const TICKET_PRIORITIES = ["low", "medium", "high", "urgent"] as const;
export type TicketPriority = (typeof TICKET_PRIORITIES)[number];

export const tickets = sqliteTable(
  "tickets",
  {
    id: text("id").primaryKey(),
    orgId: text("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    subject: text("subject").notNull(),
    description: text("description"),
    status: text("status", { enum: TICKET_STATUSES }).notNull(),
    priority: text("priority", { enum: TICKET_PRIORITIES }).notNull(),
    createdBy: text("created_by").references(() => users.id, { onDelete: "set null" }),
    /** Milliseconds since the epoch; ordering key together with id. */
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    index("tickets_org_created").on(t.orgId, t.createdAt, t.id),
    index("tickets_org_status_created").on(t.orgId, t.status, t.createdAt, t.id),
    index("tickets_org_priority_created").on(t.orgId, t.priority, t.createdAt, t.id),
  ],
);

/** One row per (organization, status, priority): totals for any filter combination are a sum of at most 16 rows. */
export const ticketCounts = sqliteTable(
  "ticket_counts",
  {
    orgId: text("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    status: text("status", { enum: TICKET_STATUSES }).notNull(),
    priority: text("priority", { enum: TICKET_PRIORITIES }).notNull(),
    count: integer("count").notNull(),
  },
  (t) => [primaryKey({ columns: [t.orgId, t.status, t.priority] })],
);
