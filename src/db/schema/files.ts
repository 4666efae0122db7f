// Tables for shared folders and stored files (the bytes live in storage; these rows are their metadata).
import { sqliteTable, text, integer, index, uniqueIndex, type AnySQLiteColumn } from "drizzle-orm/sqlite-core";
import { orgs, users } from "./orgs";
import { tickets } from "./tickets";

export const folders = sqliteTable(
  "folders",
  {
    id: text("id").primaryKey(),
    orgId: text("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    parentId: text("parent_id").references((): AnySQLiteColumn => folders.id, { onDelete: "restrict" }),
    /** parent_id, or '' at the root: NULLs never collide in a unique index, this does. */
    parentKey: text("parent_key").notNull(),
    name: text("name").notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("folders_sibling_name").on(t.orgId, t.parentKey, t.name),
    index("folders_org_created").on(t.orgId, t.createdAt, t.id),
    index("folders_parent").on(t.parentId),
  ],
);

export const files = sqliteTable(
  "files",
  {
    id: text("id").primaryKey(),
    orgId: text("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    folderId: text("folder_id").references(() => folders.id, { onDelete: "restrict" }),
    /** Cleared (not cascaded) when the ticket is deleted: files outlive tickets. */
    ticketId: text("ticket_id").references(() => tickets.id, { onDelete: "set null" }),
    filename: text("filename").notNull(),
    sizeBytes: integer("size_bytes").notNull(),
    mimeType: text("mime_type").notNull(),
    sha256: text("sha256").notNull(),
    /** Where the storage driver keeps the bytes; derived from ids only, never from the client's filename. */
    storageKey: text("storage_key").notNull(),
    uploadedBy: text("uploaded_by").references(() => users.id, { onDelete: "set null" }),
    uploadedAt: integer("uploaded_at").notNull(),
  },
  (t) => [
    index("files_org_uploaded").on(t.orgId, t.uploadedAt, t.id),
    index("files_folder").on(t.folderId, t.uploadedAt, t.id),
    index("files_ticket").on(t.ticketId, t.uploadedAt, t.id),
  ],
);
