// The folders store on PostgreSQL: the FolderStore contract over postgres.js, one statement per call, folder changes ordered by the organization's tree lock.
import type { Sql } from "postgres";
import { hasNul } from "../db/postgres/text";
import type { Queryable, StoreMode } from "../db/postgres/writer";
import { files, folders } from "../db/schema/files";
import { columnNames } from "../db/schema/raw-row";
import type { FileRow } from "../files/store";
import { FolderNameTaken, type FolderRow, type FolderStore, parentKeyOf } from "./store";
import { type Sendable, underTreeLock } from "../db/postgres/tree-lock";

/** Every column of `folders` (and of `files`, for subtreeFiles), in schema order: the one column list of each table. */
const COLUMNS = columnNames(folders);
const FILE_COLUMNS = columnNames(files);

/** The unique index that keeps sibling names apart (src/db/postgres/migrations/0000_init.sql); a duplicate id is `folders_pkey`. */
const SIBLING_NAME_INDEX = "folders_sibling_name";

/** PostgreSQL refused the row because of the sibling-name index (unique_violation on that constraint, nothing else). */
const isNameConflict = (err: unknown) => {
  const e = err as { code?: unknown; constraint_name?: unknown } | null;
  return e?.code === "23505" && e.constraint_name === SIBLING_NAME_INDEX;
};

/**
 * The PostgreSQL implementation on `q` (the pool, or a unit's transaction: see StoreMode).
 *
 * In a unit, every call first takes the organization's folder-tree lock, exclusively (db/postgres/tree-lock.ts; sent with
 * the call's own statement, so still one round trip, and only the unit's first call waits for it). Folder units of one
 * organization so run one after the other, as all units do on SQLite, and each reads what the previous one committed:
 * - a move's cycle check (`isInSubtreeOf`) walks an ancestor chain no concurrent move can change — row locks on the
 *   two folders a move names cannot stop two moves from each passing its check and together making a cycle;
 * - a recursive delete's `subtree`/`subtreeFiles` cannot miss a folder created or moved in meanwhile, nor a file
 *   uploaded into it (uploads check their folder under the same lock, shared: src/files/store-postgres.ts);
 * - `get` before an update or delete, and the parent check before an insert, cannot act on a stale row;
 * - one lock, taken first, in one order: folder units cannot deadlock each other.
 * Reads on the pool take no lock. Sibling names are kept unique by the index in every case (two inserts on the pool).
 */
export function postgresFolderStore(q: Queryable, mode: StoreMode): FolderStore {
  const sql = q as Sql;
  const columns = sql(COLUMNS);
  const inUnit = mode === "tx";
  const locked = <T>(orgId: string, make: () => Sendable<T>) => underTreeLock(q, inUnit, orgId, "exclusive", make);
  const parentWhere = (orgId: string, parent: string | null | undefined) =>
    parent === undefined ? sql`org_id = ${orgId}` : sql`org_id = ${orgId} AND parent_key = ${parentKeyOf(parent)}`;
  /** The folder (id) of the organization and everything below it, with depth from it (0). */
  const subtreeCte = (id: string, orgId: string) => sql`WITH RECURSIVE sub(id, depth) AS (
      SELECT id, 0 FROM folders WHERE id = ${id} AND org_id = ${orgId}
      UNION ALL SELECT f.id, sub.depth + 1 FROM folders f JOIN sub ON f.parent_id = sub.id WHERE f.org_id = ${orgId}
    )`;
  const nameTaken = (err: unknown, r: FolderRow) => (isNameConflict(err) ? new FolderNameTaken(r.org_id, r.parent_id, r.name) : err);

  return {
    async page(orgId, parent, limit, offset) {
      if (hasNul(parent)) return [];
      const rows = await sql<FolderRow[]>`SELECT ${columns} FROM folders WHERE ${parentWhere(orgId, parent)}
        ORDER BY created_at DESC, id DESC LIMIT ${limit} OFFSET ${offset}`;
      return [...rows];
    },
    async total(orgId, parent) {
      if (hasNul(parent)) return 0;
      const [row] = await sql<{ total: number }[]>`SELECT COUNT(*) AS total FROM folders WHERE ${parentWhere(orgId, parent)}`;
      return row?.total ?? 0;
    },
    async get(id, orgId) {
      if (hasNul(id)) return null;
      const [row] = await locked(orgId, () => sql<FolderRow[]>`SELECT ${columns} FROM folders WHERE id = ${id} AND org_id = ${orgId}`);
      return row ?? null;
    },
    async insert(r) {
      try {
        await locked(r.org_id, () => sql`INSERT INTO folders ${sql(r, COLUMNS)}`);
      } catch (err) {
        throw nameTaken(err, r);
      }
    },
    async update(r) {
      try {
        const result = await locked(
          r.org_id,
          () => sql`UPDATE folders SET parent_id = ${r.parent_id}, parent_key = ${r.parent_key}, name = ${r.name}, updated_at = ${r.updated_at}
            WHERE id = ${r.id} AND org_id = ${r.org_id}`,
        );
        return result.count > 0;
      } catch (err) {
        throw nameTaken(err, r);
      }
    },
    async remove(id, orgId) {
      if (hasNul(id)) return false;
      const result = await locked(orgId, () => sql`DELETE FROM folders WHERE id = ${id} AND org_id = ${orgId}`);
      return result.count > 0;
    },
    async siblingNamed(orgId, parentId, name) {
      if (hasNul(parentId, name)) return null;
      const [row] = await locked(
        orgId,
        () => sql<{ id: string }[]>`SELECT id FROM folders WHERE org_id = ${orgId} AND parent_key = ${parentKeyOf(parentId)} AND name = ${name}`,
      );
      return row?.id ?? null;
    },
    async isEmpty(id, orgId) {
      if (hasNul(id)) return true;
      const [row] = await locked(
        orgId,
        () => sql<{ empty: number }[]>`SELECT NOT EXISTS (SELECT 1 FROM folders WHERE parent_id = ${id} AND org_id = ${orgId})
          AND NOT EXISTS (SELECT 1 FROM files WHERE folder_id = ${id} AND org_id = ${orgId}) AS empty`,
      );
      return row?.empty === 1;
    },
    async subtree(id, orgId) {
      if (hasNul(id)) return [];
      const rows = await locked(orgId, () => sql<{ id: string; depth: number }[]>`${subtreeCte(id, orgId)} SELECT id, depth FROM sub ORDER BY depth DESC`);
      return [...rows];
    },
    async subtreeFiles(id, orgId) {
      if (hasNul(id)) return [];
      const rows = await locked(
        orgId,
        () => sql<FileRow[]>`${subtreeCte(id, orgId)} SELECT ${sql(FILE_COLUMNS)} FROM files WHERE folder_id IN (SELECT id FROM sub) AND org_id = ${orgId}`,
      );
      return [...rows];
    },
    async isInSubtreeOf(start, folderId, orgId) {
      if (hasNul(start, folderId)) return false;
      // Walks up from `start`, a folder of the organization, to the top; true when `folderId` is on the way.
      const [row] = await locked(
        orgId,
        () => sql<{ inside: number }[]>`WITH RECURSIVE up(id) AS (
            SELECT id FROM folders WHERE id = ${start} AND org_id = ${orgId}
            UNION ALL SELECT f.parent_id FROM folders f JOIN up ON f.id = up.id WHERE f.parent_id IS NOT NULL AND f.org_id = ${orgId}
          )
          SELECT EXISTS (SELECT 1 FROM up WHERE id = ${folderId}) AS inside`,
      );
      return row?.inside === 1;
    },
  };
}
