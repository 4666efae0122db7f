// The folders store: its contract (asynchronous, what services use) and its SQLite implementation (statements prepared once per database).
import type { Database, Statement } from "bun:sqlite";
import { asyncStore, type Guard } from "../db/async-store";
import { perDatabase } from "../db/per-database";
import { files, folders } from "../db/schema/files";
import { columnList, columnNames, placeholders, type RawRow } from "../db/schema/raw-row";
import type { FileRow } from "../files/store";

/** A folders row as SQL reads it, derived from the schema (`parent_key`: parent_id, or '' at the top level). */
export type FolderRow = RawRow<typeof folders>;

const COLUMN_NAMES = columnNames(folders);
const COLUMNS = columnList(folders);
const FILE_COLUMNS = columnList(files);

/** A list filter: a parent id, `null` for the top level, or undefined for all folders. */
export type ParentFilter = string | null | undefined;

export function parentKeyOf(parentId: string | null): string {
  return parentId ?? "";
}

/**
 * An insert or update would give a folder the name a sibling already has (the unique index on org, parent and name
 * refused it). Every engine throws this, whatever its own error is, so the service can answer 409 on any of them.
 */
export class FolderNameTaken extends Error {
  override name = "FolderNameTaken";
  constructor(
    readonly orgId: string,
    readonly parentId: string | null,
    readonly folderName: string,
  ) {
    super(`a folder named ${JSON.stringify(folderName)} already exists under that parent`);
  }
}

/**
 * The folders of every organization, and the files inside a subtree. Every method takes the organization id: no call
 * reaches another organization's rows. Names are compared exactly (no case folding, no Unicode normalization). Used
 * inside a writer unit (its `tx`), calls run in that unit's transaction; used elsewhere, they see committed rows only.
 */
export interface FolderStore {
  /** A page in list order (created_at DESC, id DESC), by offset: all folders, the top level (null) or one parent's children. */
  page(orgId: string, parent: ParentFilter, limit: number, offset: number): Promise<FolderRow[]>;
  /** How many folders `page` can list with this filter. */
  total(orgId: string, parent: ParentFilter): Promise<number>;
  get(id: string, orgId: string): Promise<FolderRow | null>;
  /** Inserts the row; its parent, if set, must be a folder of the same organization. FolderNameTaken if a sibling has the name. */
  insert(r: FolderRow): Promise<void>;
  /**
   * Writes the row's parent (parent_id and parent_key together), name and updated_at over the organization's folder
   * with its id. True when a row was updated. FolderNameTaken if a sibling under the new parent has the name.
   */
  update(r: FolderRow): Promise<boolean>;
  /**
   * Deletes the folder; true when a row was deleted (a second remove, or another organization's folder, changes
   * nothing). It rejects, leaving the folder, while a folder or a file is still inside it: check isEmpty, or remove
   * the subtree deepest first, in the same unit.
   */
  remove(id: string, orgId: string): Promise<boolean>;
  /** The id of the folder with exactly this name under this parent (null: the top level), if any. */
  siblingNamed(orgId: string, parentId: string | null, name: string): Promise<string | null>;
  /** True when no folder and no file of the organization is directly inside the folder (also when it is not theirs). */
  isEmpty(id: string, orgId: string): Promise<boolean>;
  /** The folder and everything below it, each with its depth from it (0), deepest first: an order they can be removed in. */
  subtree(id: string, orgId: string): Promise<{ id: string; depth: number }[]>;
  /** The file rows in the folder and everything below it, in no particular order. */
  subtreeFiles(id: string, orgId: string): Promise<FileRow[]>;
  /**
   * True when `folderId` is `start` or one of its ancestors, i.e. `start` lies inside `folderId`'s subtree (a move of
   * `folderId` under `start` would make a cycle). False when `start` is not a folder of the organization.
   */
  isInSubtreeOf(start: string, folderId: string, orgId: string): Promise<boolean>;
}

/** The folder (?1) of the organization (?2) and everything below it, with depth from it (0). */
const SUBTREE = `WITH RECURSIVE sub(id, depth) AS (
  SELECT id, 0 FROM folders WHERE id = ?1 AND org_id = ?2
  UNION ALL SELECT f.id, sub.depth + 1 FROM folders f JOIN sub ON f.parent_id = sub.id WHERE f.org_id = ?2
)`;

/** The sibling-name index refused the row (bun:sqlite's extended result code; a duplicate id is SQLITE_CONSTRAINT_PRIMARYKEY). */
const isNameConflict = (err: unknown) => (err as { code?: unknown } | null)?.code === "SQLITE_CONSTRAINT_UNIQUE";

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
  const hasChild = db.prepare<{ one: number }, [string, string]>(`SELECT 1 AS one FROM folders WHERE parent_id = ? AND org_id = ? LIMIT 1`);
  const hasFile = db.prepare<{ one: number }, [string, string]>(`SELECT 1 AS one FROM files WHERE folder_id = ? AND org_id = ? LIMIT 1`);
  const subtree = db.prepare<{ id: string; depth: number }, [string, string]>(`${SUBTREE} SELECT id, depth FROM sub ORDER BY depth DESC`);
  const subtreeFiles = db.prepare<FileRow, [string, string]>(
    `${SUBTREE} SELECT ${FILE_COLUMNS} FROM files WHERE folder_id IN (SELECT id FROM sub) AND org_id = ?2`,
  );
  // Walks up from `start` (?1), a folder of the organization (?3), to the top; true when `target` (?2) is on the way.
  const isAncestorOrSelf = db.prepare<{ one: number }, [string, string, string]>(
    `WITH RECURSIVE up(id) AS (
       SELECT id FROM folders WHERE id = ?1 AND org_id = ?3
       UNION ALL SELECT f.parent_id FROM folders f JOIN up ON f.id = up.id WHERE f.parent_id IS NOT NULL AND f.org_id = ?3
     )
     SELECT 1 AS one FROM up WHERE id = ?2 LIMIT 1`,
  );
  const nameTaken = (err: unknown, r: FolderRow) => (isNameConflict(err) ? new FolderNameTaken(r.org_id, r.parent_id, r.name) : err);

  return {
    page(orgId: string, parent: ParentFilter, limit: number, offset: number): FolderRow[] {
      return parent === undefined ? page.get("all")!.all(orgId, limit, offset) : page.get("parent")!.all(orgId, parentKeyOf(parent), limit, offset);
    },
    total(orgId: string, parent: ParentFilter): number {
      return (parent === undefined ? total.get("all")!.get(orgId) : total.get("parent")!.get(orgId, parentKeyOf(parent)))?.total ?? 0;
    },
    get: (id: string, orgId: string): FolderRow | null => byId.get(id, orgId),
    insert(r: FolderRow): void {
      try {
        insert.run(...COLUMN_NAMES.map((c) => r[c]));
      } catch (err) {
        throw nameTaken(err, r);
      }
    },
    update(r: FolderRow): boolean {
      try {
        return update.run(r.parent_id, r.parent_key, r.name, r.updated_at, r.id, r.org_id).changes > 0;
      } catch (err) {
        throw nameTaken(err, r);
      }
    },
    remove: (id: string, orgId: string): boolean => remove.run(id, orgId).changes > 0,
    siblingNamed: (orgId: string, parentId: string | null, name: string): string | null => sibling.get(orgId, parentKeyOf(parentId), name)?.id ?? null,
    isEmpty: (id: string, orgId: string): boolean => !hasChild.get(id, orgId) && !hasFile.get(id, orgId),
    subtree: (id: string, orgId: string): { id: string; depth: number }[] => subtree.all(id, orgId),
    subtreeFiles: (id: string, orgId: string): FileRow[] => subtreeFiles.all(id, orgId),
    isInSubtreeOf: (start: string, folderId: string, orgId: string): boolean => !!isAncestorOrSelf.get(start, folderId, orgId),
  };
}

const statements = perDatabase(buildStore);

/** The SQLite implementation over one connection (its statements shared by every view of it); `guard` see async-store.ts. */
export function sqliteFolderStore(db: Database, guard?: Guard): FolderStore {
  return asyncStore(statements(db), guard) satisfies FolderStore;
}
