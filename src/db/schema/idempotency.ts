// Remembered POST results per API key and Idempotency-Key, so a retried request is answered, not repeated.
import { sqliteTable, text, integer, primaryKey, index } from "drizzle-orm/sqlite-core";
import { apiKeys } from "./orgs";

export const idempotencyKeys = sqliteTable(
  "idempotency_keys",
  {
    keyId: text("key_id")
      .notNull()
      .references(() => apiKeys.id, { onDelete: "cascade" }),
    idempotencyKey: text("idempotency_key").notNull(),
    /** SHA-256 of method, path and body (for uploads: the fields and the file's sha256). */
    fingerprint: text("fingerprint").notNull(),
    /** Null while the first request is still running. */
    responseStatus: integer("response_status"),
    responseHeaders: text("response_headers"),
    responseBody: text("response_body"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.keyId, t.idempotencyKey] }), index("idempotency_created").on(t.createdAt)],
);
