// The folders data layer: every SQL statement about folders and their subtrees, prepared once per database.
import type { Database, Statement } from "bun:sqlite";
import type { FileRow } from "../files/store";
import { perDatabase } from "../db/per-database";
import { files, folders } from "../db/schema/files";
import { columnList, columnNames, placeholders, type RawRow } from "../db/schema/raw-row";

/** A folders row as SQL reads it, derived from the schema (`parent_key`: parent_id, or '' at the top level). */
export type FolderRow = RawRow<typeof folders>;

const COLUMN_NAMES = columnNames(folders);
const COLUMNS = columnList(folders);
const FILE_COLUMNS = columnList(files);

/** The folder and everything below it, with depth from it (0). */
const SUBTREE = `WITH RECURSIVE sub(id, depth) AS (
  SELECT id, 0 FROM folders WHERE id = ? AND org_id = ?
  UNION ALL SELECT f.id, sub.depth + 1 FROM folders f JOIN sub ON f.parent_id = sub.id
)`;

/** A list filter: a parent id, `null` for the top level, or undefined for all folders. */
export type ParentFilter = string | null | undefined;

export function parentKeyOf(parentId: string | null): string {
  return parentId ?? "";
}

function buildStore(db: Database) {
  const page = new Map<string, Statement<FolderRow>>();
  const total = new Map<string, Statement<{ total: number }>>();
  for (const [k, where] of [
    ["all", "org_id = ?"],
    ["parent", "org_id = ? AND parent_key = ?"],
  ] as const) {
    page.set(k, db.prepare(`SELECT ${COLUMNS} FROM folders WHERE ${where} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`));
    total.set(k, db.prepare(`SELECT COUNT(*) AS total FROM folders WHERE ${where}`));
  }
  const byId = db.prepare<FolderRow, [string, string]>(`SELECT ${COLUMNS} FROM folders WHERE id = ? AND org_id = ?`);
  const insert = db.prepare(`INSERT INTO folders (${COLUMNS}) VALUES (${placeholders(folders)})`);
  const update = db.prepare(`UPDATE folders SET parent_id = ?, parent_key = ?, name = ?, updated_at = ? WHERE id = ? AND org_id = ?`);
  const remove = db.prepare(`DELETE FROM folders WHERE id = ? AND org_id = ?`);
  const sibling = db.prepare<{ id: string }, [string, string, string]>(`SELECT id FROM folders WHERE org_id = ? AND parent_key = ? AND name = ?`);
  const hasChild = db.prepare<{ one: number }, [string]>(`SELECT 1 AS one FROM folders WHERE parent_id = ? LIMIT 1`);
  const hasFile = db.prepare<{ one: number }, [string]>(`SELECT 1 AS one FROM files WHERE folder_id = ? LIMIT 1`);
  const subtree = db.prepare<{ id: string; depth: number }, [string, string]>(`${SUBTREE} SELECT id, depth FROM sub ORDER BY depth DESC`);
  const subtreeFiles = db.prepare<FileRow, [string, string]>(`${SUBTREE} SELECT ${FILE_COLUMNS} FROM files WHERE folder_id IN (SELECT id FROM sub)`);
  // Walks up from `start` to the top; true when `target` is on the way (start itself included).
  const isAncestorOrSelf = db.prepare<{ one: number }, [string, string]>(
    `WITH RECURSIVE up(id) AS (SELECT ? UNION ALL SELECT f.parent_id FROM folders f JOIN up ON f.id = up.id WHERE f.parent_id IS NOT NULL)
     SELECT 1 AS one FROM up WHERE id = ? LIMIT 1`,
  );

  return {
    page(orgId: string, parent: ParentFilter, limit: number, offset: number): FolderRow[] {
      return parent === undefined ? page.get("all")!.all(orgId, limit, offset) : page.get("parent")!.all(orgId, parentKeyOf(parent), limit, offset);
    },
    total(orgId: string, parent: ParentFilter): number {
      return (parent === undefined ? total.get("all")!.get(orgId) : total.get("parent")!.get(orgId, parentKeyOf(parent)))?.total ?? 0;
    },
    get: (id: string, orgId: string) => byId.get(id, orgId),
    insert(r: FolderRow) {
      insert.run(...COLUMN_NAMES.map((c) => r[c]));
    },
    update(r: FolderRow) {
      update.run(r.parent_id, r.parent_key, r.name, r.updated_at, r.id, r.org_id);
    },
    remove: (id: string, orgId: string) => remove.run(id, orgId),
    /** The id of the folder with this name under this parent, if any. */
    siblingNamed: (orgId: string, parentId: string | null, name: string) => sibling.get(orgId, parentKeyOf(parentId), name)?.id ?? null,
    isEmpty: (id: string) => !hasChild.get(id) && !hasFile.get(id),
    /** The folder and all below it, deepest first (the order they can be deleted in). */
    subtree: (id: string, orgId: string) => subtree.all(id, orgId),
    subtreeFiles: (id: string, orgId: string) => subtreeFiles.all(id, orgId),
    /** True when `folderId` is `start` or one of its ancestors, i.e. `start` lies inside `folderId`'s subtree. */
    isInSubtreeOf: (start: string, folderId: string) => !!isAncestorOrSelf.get(start, folderId),
  };
}

export type FolderStore = ReturnType<typeof buildStore>;
/** The store for this database, built on first use. */
export const folderStore: (db: Database) => FolderStore = perDatabase(buildStore);
