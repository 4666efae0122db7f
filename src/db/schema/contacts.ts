// Tables for requesters (contacts): the people who write in, kept per organization; deleting one erases its personal fields, never its history.
import { sqliteTable, text, integer, index, uniqueIndex } from "drizzle-orm/sqlite-core";
import { orgs } from "./orgs";

export const contacts = sqliteTable(
  "contacts",
  {
    id: text("id").primaryKey(),
    orgId: text("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    /** As the client sent it (trimmed); null once the contact is deleted. */
    email: text("email"),
    /** The email lowercased (JavaScript's toLowerCase, the same on both engines): uniqueness and `email=` lookups. */
    emailKey: text("email_key"),
    name: text("name"),
    /** The name lowercased: the index behind `q`'s name-prefix match. */
    nameKey: text("name_key"),
    phone: text("phone"),
    /** The id of this person in another system (a CRM): unique per organization, for syncing tools. */
    externalId: text("external_id"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    /** Set when deleted (erased); the row stays so tickets and comments keep their requester and author. */
    deletedAt: integer("deleted_at"),
  },
  (t) => [
    uniqueIndex("contacts_org_email").on(t.orgId, t.emailKey),
    uniqueIndex("contacts_org_external").on(t.orgId, t.externalId),
    index("contacts_org_name").on(t.orgId, t.nameKey),
    index("contacts_org_created").on(t.orgId, t.createdAt, t.id),
  ],
);
