// Tables for custom ticket fields: what an organization defines; the values live on each ticket (tickets.custom_fields).
import { sqliteTable, text, integer, index, uniqueIndex } from "drizzle-orm/sqlite-core";
import { orgs } from "./orgs";

export const TICKET_FIELD_TYPES = ["text", "number", "date", "checkbox", "dropdown"] as const;
export type TicketFieldType = (typeof TICKET_FIELD_TYPES)[number];

export const ticketFields = sqliteTable(
  "ticket_fields",
  {
    id: text("id").primaryKey(),
    orgId: text("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    /** `a-z0-9_`, unique per organization, immutable: the name of the value in tickets' `custom_fields`. */
    key: text("key").notNull(),
    title: text("title").notNull(),
    type: text("type", { enum: TICKET_FIELD_TYPES }).notNull(),
    /** JSON array of the allowed values (dropdown); null for the other types. */
    options: text("options"),
    /** 0 or 1. */
    required: integer("required", { mode: "boolean" }).notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [uniqueIndex("ticket_fields_org_key").on(t.orgId, t.key), index("ticket_fields_org_created").on(t.orgId, t.createdAt, t.id)],
);
