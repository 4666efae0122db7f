// The files data layer: every SQL statement about file rows, prepared once per database.
import type { Database, Statement } from "bun:sqlite";
import { perDatabase } from "../db/per-database";
import { files } from "../db/schema/files";
import { columnList, columnNames, placeholders, type RawRow } from "../db/schema/raw-row";

/** A files row as SQL reads it, derived from the schema. */
export type FileRow = RawRow<typeof files>;

const COLUMN_NAMES = columnNames(files);
const COLUMNS = columnList(files);

/** A list filter: a folder id, `null` for "in no folder", or undefined for "any". */
export interface FileFilter {
  folderId?: string | null;
  ticketId?: string;
}

function buildStore(db: Database) {
  const page = new Map<string, Statement<FileRow>>();
  const total = new Map<string, Statement<{ total: number }>>();
  const folderSql = { any: "", root: " AND folder_id IS NULL", id: " AND folder_id = ?" } as const;
  for (const f of ["any", "root", "id"] as const) {
    for (const tk of [false, true]) {
      const where = `org_id = ?${folderSql[f]}${tk ? " AND ticket_id = ?" : ""}`;
      page.set(`${f}${tk}`, db.prepare(`SELECT ${COLUMNS} FROM files WHERE ${where} ORDER BY uploaded_at DESC, id DESC LIMIT ? OFFSET ?`));
      total.set(`${f}${tk}`, db.prepare(`SELECT COUNT(*) AS total FROM files WHERE ${where}`));
    }
  }
  const byId = db.prepare<FileRow, [string, string]>(`SELECT ${COLUMNS} FROM files WHERE id = ? AND org_id = ?`);
  const byIdAnyOrg = db.prepare<FileRow, [string]>(`SELECT ${COLUMNS} FROM files WHERE id = ?`);
  const insert = db.prepare(`INSERT INTO files (${COLUMNS}) VALUES (${placeholders(files)})`);
  const remove = db.prepare(`DELETE FROM files WHERE id = ? AND org_id = ?`);
  const folderExists = db.prepare<{ one: number }, [string, string]>(`SELECT 1 AS one FROM folders WHERE id = ? AND org_id = ?`);
  const ticketExists = db.prepare<{ one: number }, [string, string]>(`SELECT 1 AS one FROM tickets WHERE id = ? AND org_id = ?`);

  const key = (f: FileFilter) => `${f.folderId === undefined ? "any" : f.folderId === null ? "root" : "id"}${f.ticketId !== undefined}`;
  const args = (orgId: string, f: FileFilter) => {
    const out: string[] = [orgId];
    if (typeof f.folderId === "string") out.push(f.folderId);
    if (f.ticketId !== undefined) out.push(f.ticketId);
    return out;
  };

  return {
    page: (orgId: string, f: FileFilter, limit: number, offset: number): FileRow[] => page.get(key(f))!.all(...args(orgId, f), limit, offset),
    total: (orgId: string, f: FileFilter): number => total.get(key(f))!.get(...args(orgId, f))?.total ?? 0,
    get: (id: string, orgId: string) => byId.get(id, orgId),
    /** By id alone: only for signed links, whose signature already proved the caller was given this file. */
    getAnyOrg: (id: string) => byIdAnyOrg.get(id),
    insert(r: FileRow) {
      insert.run(...COLUMN_NAMES.map((c) => r[c]));
    },
    remove: (id: string, orgId: string) => remove.run(id, orgId).changes > 0,
    folderExists: (id: string, orgId: string) => !!folderExists.get(id, orgId),
    ticketExists: (id: string, orgId: string) => !!ticketExists.get(id, orgId),
  };
}

export type FileStore = ReturnType<typeof buildStore>;
/** The store for this database, built on first use. */
export const fileStore: (db: Database) => FileStore = perDatabase(buildStore);
