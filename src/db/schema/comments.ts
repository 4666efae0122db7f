// Tables for a ticket's conversation: append-only comments (public replies and internal notes) and the files attached to them.
import { sqliteTable, text, integer, index, primaryKey } from "drizzle-orm/sqlite-core";
import { orgs } from "./orgs";
import { tickets } from "./tickets";
import { files } from "./files";

export const AUTHOR_TYPES = ["user", "contact"] as const;
export type AuthorType = (typeof AUTHOR_TYPES)[number];

export const comments = sqliteTable(
  "comments",
  {
    id: text("id").primaryKey(),
    orgId: text("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    /** The conversation goes with its ticket. */
    ticketId: text("ticket_id")
      .notNull()
      .references(() => tickets.id, { onDelete: "cascade" }),
    /** A user (`user_…`) or a contact (`con_…`) of the organization, as author_type says; kept when the author is deleted. */
    authorId: text("author_id").notNull(),
    authorType: text("author_type", { enum: AUTHOR_TYPES }).notNull(),
    /** Plain text; `[redacted]` once redacted. */
    body: text("body").notNull(),
    /** 1: visible to the requester; 0: an internal note. */
    public: integer("public", { mode: "boolean" }).notNull(),
    createdAt: integer("created_at").notNull(),
    redactedAt: integer("redacted_at"),
    /** The user whose key redacted it. */
    redactedBy: text("redacted_by"),
  },
  (t) => [index("comments_ticket_created").on(t.ticketId, t.createdAt, t.id), index("comments_org_created").on(t.orgId, t.createdAt, t.id)],
);

/** The files attached to a comment, in the order the comment listed them. A deleted file leaves its comment. */
export const commentAttachments = sqliteTable(
  "comment_attachments",
  {
    commentId: text("comment_id")
      .notNull()
      .references(() => comments.id, { onDelete: "cascade" }),
    fileId: text("file_id")
      .notNull()
      .references(() => files.id, { onDelete: "cascade" }),
    position: integer("position").notNull(),
  },
  (t) => [primaryKey({ columns: [t.commentId, t.fileId] }), index("comment_attachments_file").on(t.fileId)],
);
