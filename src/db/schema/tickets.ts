// Tables for tickets and their per-organization, per-status counts (kept so list totals never scan).
import { sqliteTable, text, integer, index, primaryKey } from "drizzle-orm/sqlite-core";
import { contacts } from "./contacts";
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
    /** Who asked: a contact of the organization (contacts are erased, never deleted, so the link stays). */
    requesterId: text("requester_id").references(() => contacts.id, { onDelete: "set null" }),
    /** Who owns it: a user of the organization; cleared when the user is deleted. */
    assigneeId: text("assignee_id").references(() => users.id, { onDelete: "set null" }),
    /** JSON array of tags: lowercase, unique, sorted. ticket_tags holds the same set, one row each, for filters and counts. */
    tags: text("tags").notNull().default("[]"),
    /** JSON object: custom field key → value, validated against ticket_fields. */
    customFields: text("custom_fields").notNull().default("{}"),
  },
  (t) => [
    index("tickets_org_created").on(t.orgId, t.createdAt, t.id),
    index("tickets_org_status_created").on(t.orgId, t.status, t.createdAt, t.id),
    index("tickets_org_priority_created").on(t.orgId, t.priority, t.createdAt, t.id),
    // Syncing tools walk `updated_after` + `sort=updated_at`.
    index("tickets_org_updated").on(t.orgId, t.updatedAt, t.id),
    index("tickets_org_assignee_created").on(t.orgId, t.assigneeId, t.createdAt, t.id),
    index("tickets_org_requester_created").on(t.orgId, t.requesterId, t.createdAt, t.id),
  ],
);

/**
 * One row per (ticket, tag): the ticket's tags as rows, for `tag=` filters and `GET /v1/tags` counts. The ticket's
 * status and times are copied here (kept in step by the tickets store in the same statement or unit as the ticket)
 * so that a `tag` + `status` + `sort=updated_at` page is one index walk at any size, not a sort of every match.
 */
export const ticketTags = sqliteTable(
  "ticket_tags",
  {
    orgId: text("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    tag: text("tag").notNull(),
    ticketId: text("ticket_id")
      .notNull()
      .references(() => tickets.id, { onDelete: "cascade" }),
    status: text("status", { enum: TICKET_STATUSES }).notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.orgId, t.tag, t.ticketId] }),
    index("ticket_tags_ticket").on(t.ticketId),
    index("ticket_tags_org_tag_created").on(t.orgId, t.tag, t.createdAt, t.ticketId),
    index("ticket_tags_org_tag_status_updated").on(t.orgId, t.tag, t.status, t.updatedAt, t.ticketId),
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
