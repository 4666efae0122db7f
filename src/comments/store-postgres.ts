// The comments store on PostgreSQL: the CommentStore contract over postgres.js, one statement (one round trip) per call.
import type { Sql } from "postgres";
import { hasNul } from "../db/postgres/text";
import type { Queryable, StoreMode } from "../db/postgres/writer";
import { comments } from "../db/schema/comments";
import { files } from "../db/schema/files";
import { columnNames } from "../db/schema/raw-row";
import { type AttachedFileRow, type CommentFilter, type CommentRow, type CommentStore, REDACTED_BODY } from "./store";

/** Every column of `comments`, in schema order: the one column list of the table (SELECTs and the INSERT). */
const COLUMNS = columnNames(comments);
const FILE_COLUMNS = columnNames(files);

/**
 * The PostgreSQL implementation on `q` (the pool, or a unit's transaction: see StoreMode).
 * - `get` in a unit locks the row (`FOR UPDATE`): the redaction reads it to decide its write, so of two concurrent
 *   redactions the second waits for the first's COMMIT and then finds it redacted (no second event), as on SQLite.
 * - `insert` writes the comment and its attachments in one statement; `redact` the comment and the removal of its
 *   attachment rows in one, only for a comment not redacted yet.
 * - Lists of ids go as one JSON array parameter (ids never hold U+0000 or lone surrogates: jsonb could not).
 */
export function postgresCommentStore(q: Queryable, mode: StoreMode): CommentStore {
  const sql = q as Sql;
  const columns = sql(COLUMNS);
  const fileColumns = sql(FILE_COLUMNS.map((c) => `f.${c}`));
  const none = () => sql``;
  const where = (orgId: string, ticketId: string, f: CommentFilter) =>
    f.public === undefined
      ? sql`ticket_id = ${ticketId} AND org_id = ${orgId}`
      : sql`ticket_id = ${ticketId} AND org_id = ${orgId} AND public = ${f.public ? 1 : 0}`;

  return {
    async insert(r, fileIds) {
      if (!fileIds.length) {
        await sql`INSERT INTO comments ${sql(r, COLUMNS)}`;
        return;
      }
      await sql`WITH c AS (INSERT INTO comments ${sql(r, COLUMNS)} RETURNING id)
        INSERT INTO comment_attachments (comment_id, file_id, position)
        SELECT c.id, a.file_id, a.n - 1 FROM c, jsonb_array_elements_text(${JSON.stringify(fileIds)}::jsonb) WITH ORDINALITY AS a(file_id, n)`;
    },
    async get(id, ticketId, orgId) {
      if (hasNul(id, ticketId)) return null;
      const [row] = await sql<CommentRow[]>`SELECT ${columns} FROM comments WHERE id = ${id} AND ticket_id = ${ticketId} AND org_id = ${orgId}${
        mode === "tx" ? sql` FOR UPDATE` : none()
      }`;
      return row ?? null;
    },
    async page(orgId, ticketId, f, limit, offset) {
      if (hasNul(ticketId)) return [];
      const rows = await sql<CommentRow[]>`SELECT ${columns} FROM comments WHERE ${where(orgId, ticketId, f)}
        ORDER BY created_at, id LIMIT ${limit} OFFSET ${offset}`;
      return [...rows];
    },
    async pageAfter(orgId, ticketId, f, cursor, limit) {
      if (hasNul(ticketId)) return [];
      // Keyset: the row-value comparison on the index's trailing (created_at, id) columns is one index seek at any depth.
      const rows = await sql<CommentRow[]>`SELECT ${columns} FROM comments WHERE ${where(orgId, ticketId, f)}
        AND (created_at, id) > (${cursor.created_at}, ${cursor.id}) ORDER BY created_at, id LIMIT ${limit}`;
      return [...rows];
    },
    async total(orgId, ticketId, f) {
      if (hasNul(ticketId)) return 0;
      const [row] = await sql<{ total: number }[]>`SELECT COUNT(*) AS total FROM comments WHERE ${where(orgId, ticketId, f)}`;
      return row?.total ?? 0;
    },
    async redact(id, orgId, at, by) {
      if (hasNul(id)) return false;
      const [row] = await sql<{ n: number }[]>`WITH changed AS (
          UPDATE comments SET body = ${REDACTED_BODY}, redacted_at = ${at}, redacted_by = ${by}
          WHERE id = ${id} AND org_id = ${orgId} AND redacted_at IS NULL RETURNING id
        ), detached AS (
          DELETE FROM comment_attachments a USING changed WHERE a.comment_id = changed.id
        )
        SELECT COUNT(*) AS n FROM changed`;
      return (row?.n ?? 0) > 0;
    },
    async attachedFiles(orgId, commentIds) {
      const wanted = commentIds.filter((id) => !hasNul(id) && id.isWellFormed());
      if (!wanted.length) return [];
      const rows = await sql<AttachedFileRow[]>`SELECT a.comment_id, ${fileColumns} FROM comment_attachments a JOIN files f ON f.id = a.file_id
        WHERE a.comment_id IN (SELECT jsonb_array_elements_text(${JSON.stringify(wanted)}::jsonb)) AND f.org_id = ${orgId}
        ORDER BY a.comment_id, a.position`;
      return [...rows];
    },
  };
}
