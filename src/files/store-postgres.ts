// The files store on PostgreSQL: the FileStore contract over postgres.js, one statement per call; an upload's folder and ticket checks hold what they found until its COMMIT.
import type { Sql } from "postgres";
import { hasNul } from "../db/postgres/text";
import type { Queryable, StoreMode } from "../db/postgres/writer";
import { files } from "../db/schema/files";
import { columnNames } from "../db/schema/raw-row";
import { underTreeLock } from "../db/postgres/tree-lock";
import type { FileFilter, FileRow, FileStore } from "./store";

/** Every column of `files`, in schema order: the one column list of the table (SELECTs and the INSERT). */
const COLUMNS = columnNames(files);

/**
 * The PostgreSQL implementation on `q` (the pool, or a unit's transaction: see StoreMode). In a unit:
 * - `get` locks the row (`FOR UPDATE`): deleteFile reads it to decide its delete, so of two concurrent deletes the
 *   second waits and then finds nothing (404), as on SQLite.
 * - `folderExists` first takes the organization's folder-tree lock, shared (src/db/postgres/tree-lock.ts):
 *   uploads do not wait for each other, but a folder change (a recursive delete above all) runs wholly before or
 *   after the upload's unit, so the folder is either gone (404) or still there with the file in it at COMMIT.
 * - `ticketExists` locks the ticket against deletion (`FOR KEY SHARE`, which updates of the ticket do not wait
 *   for): a concurrent delete of the ticket waits for the upload's COMMIT, then sets the file's ticket_id to NULL.
 * Without these, the insert's foreign-key check would fail (a 500) where SQLite's one writer answers 404.
 * `attachToTicket` updates (so locks) the rows it finds: a concurrent delete of one of them waits for the unit's COMMIT.
 */
export function postgresFileStore(q: Queryable, mode: StoreMode): FileStore {
  const sql = q as Sql;
  const columns = sql(COLUMNS);
  const inUnit = mode === "tx";
  const none = () => sql``;
  const where = (orgId: string, f: FileFilter) =>
    sql`org_id = ${orgId}${f.folderId === undefined ? none() : f.folderId === null ? sql` AND folder_id IS NULL` : sql` AND folder_id = ${f.folderId}`}${
      f.ticketId === undefined ? none() : sql` AND ticket_id = ${f.ticketId}`
    }`;

  return {
    async page(orgId, f, limit, offset) {
      if (hasNul(f.folderId, f.ticketId)) return [];
      const rows = await sql<FileRow[]>`SELECT ${columns} FROM files WHERE ${where(orgId, f)}
        ORDER BY uploaded_at DESC, id DESC LIMIT ${limit} OFFSET ${offset}`;
      return [...rows];
    },
    async total(orgId, f) {
      if (hasNul(f.folderId, f.ticketId)) return 0;
      const [row] = await sql<{ total: number }[]>`SELECT COUNT(*) AS total FROM files WHERE ${where(orgId, f)}`;
      return row?.total ?? 0;
    },
    async get(id, orgId) {
      if (hasNul(id)) return null;
      const [row] = await sql<FileRow[]>`SELECT ${columns} FROM files WHERE id = ${id} AND org_id = ${orgId}${inUnit ? sql` FOR UPDATE` : none()}`;
      return row ?? null;
    },
    async getAnyOrg(id) {
      if (hasNul(id)) return null;
      const [row] = await sql<FileRow[]>`SELECT ${columns} FROM files WHERE id = ${id}`;
      return row ?? null;
    },
    async insert(r) {
      await sql`INSERT INTO files ${sql(r, COLUMNS)}`;
    },
    async remove(id, orgId) {
      if (hasNul(id)) return false;
      const result = await sql`DELETE FROM files WHERE id = ${id} AND org_id = ${orgId}`;
      return result.count > 0;
    },
    async folderExists(id, orgId) {
      if (hasNul(id)) return false;
      const rows = await underTreeLock(q, inUnit, orgId, "shared", () => sql`SELECT 1 AS one FROM folders WHERE id = ${id} AND org_id = ${orgId}`);
      return rows.length > 0;
    },
    async ticketExists(id, orgId) {
      if (hasNul(id)) return false;
      const rows = await sql`SELECT 1 AS one FROM tickets WHERE id = ${id} AND org_id = ${orgId}${inUnit ? sql` FOR KEY SHARE` : none()}`;
      return rows.length > 0;
    },
    async attachToTicket(ids, orgId, ticketId) {
      // An id with U+0000 or a lone surrogate names no file (and jsonb could not hold it); the rest go as one JSON array.
      const wanted = ids.filter((id) => !hasNul(id) && id.isWellFormed());
      if (!wanted.length) return [];
      const rows = await sql<FileRow[]>`UPDATE files SET ticket_id = ${ticketId}
        WHERE org_id = ${orgId} AND id IN (SELECT jsonb_array_elements_text(${JSON.stringify(wanted)}::jsonb)) RETURNING ${columns}`;
      return [...rows];
    },
  };
}
