// The files store: its contract (asynchronous, what services use) and its SQLite implementation (statements prepared once per database).
import type { Database, Statement } from "bun:sqlite";
import { asyncStore, type Guard } from "../db/async-store";
import { perDatabase } from "../db/per-database";
import { files } from "../db/schema/files";
import { columnList, columnNames, placeholders, type RawRow } from "../db/schema/raw-row";

/** A files row as SQL reads it (snake_case keys, integer times), derived from the schema. */
export type FileRow = RawRow<typeof files>;

const COLUMN_NAMES = columnNames(files);
const COLUMNS = columnList(files);

/** A list filter: a folder id, `null` for "in no folder", or undefined for "any"; a ticket id, or undefined for "any". */
export interface FileFilter {
  folderId?: string | null;
  ticketId?: string;
}

/**
 * The file rows of every organization (the bytes live in storage, under `storage_key`). Every method takes the
 * organization id, except `getAnyOrg`, whose two callers are documented there. Used inside a writer unit (its `tx`),
 * calls run in that unit's transaction; used elsewhere, they see committed rows only.
 */
export interface FileStore {
  /** A page in list order (uploaded_at DESC, id DESC), by offset. */
  page(orgId: string, f: FileFilter, limit: number, offset: number): Promise<FileRow[]>;
  /** How many files match the filter. */
  total(orgId: string, f: FileFilter): Promise<number>;
  get(id: string, orgId: string): Promise<FileRow | null>;
  /**
   * By id alone, across organizations. Only for a signed download link, whose signature already proved the holder was
   * given this file, and for the start-up sweep, whose intents name files by id (src/files/recovery.ts).
   */
  getAnyOrg(id: string): Promise<FileRow | null>;
  /** Inserts the row; its folder and ticket, if set, must exist (check with folderExists/ticketExists in the same unit). */
  insert(r: FileRow): Promise<void>;
  /** Deletes the row; true when a row was deleted (a second remove, or another organization's file, changes nothing). */
  remove(id: string, orgId: string): Promise<boolean>;
  /** Whether the organization has this folder (an upload's `folder_id`). */
  folderExists(id: string, orgId: string): Promise<boolean>;
  /** Whether the organization has this ticket (an upload's `ticket_id`). */
  ticketExists(id: string, orgId: string): Promise<boolean>;
  /**
   * Sets `ticket_id` of those of `ids` that are the organization's files (a comment attached them to the ticket) and
   * returns their rows as they are now, in no particular order; an id that is not one of its files is left out (and
   * nothing is written for it). The ticket must exist in the same unit (tickets.get).
   */
  attachToTicket(ids: readonly string[], orgId: string, ticketId: string): Promise<FileRow[]>;
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
  // The ids as one JSON array parameter: one statement whatever their number.
  const attach = db.prepare<FileRow, [string, string, string]>(
    `UPDATE files SET ticket_id = ? WHERE org_id = ? AND id IN (SELECT value FROM json_each(?)) RETURNING ${COLUMNS}`,
  );

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
    get: (id: string, orgId: string): FileRow | null => byId.get(id, orgId),
    getAnyOrg: (id: string): FileRow | null => byIdAnyOrg.get(id),
    insert(r: FileRow): void {
      insert.run(...COLUMN_NAMES.map((c) => r[c]));
    },
    remove: (id: string, orgId: string): boolean => remove.run(id, orgId).changes > 0,
    folderExists: (id: string, orgId: string): boolean => !!folderExists.get(id, orgId),
    ticketExists: (id: string, orgId: string): boolean => !!ticketExists.get(id, orgId),
    attachToTicket: (ids: readonly string[], orgId: string, ticketId: string): FileRow[] =>
      ids.length ? attach.all(ticketId, orgId, JSON.stringify(ids)) : [],
  };
}

const statements = perDatabase(buildStore);

/** The SQLite implementation over one connection (its statements shared by every view of it); `guard` see async-store.ts. */
export function sqliteFileStore(db: Database, guard?: Guard): FileStore {
  return asyncStore(statements(db), guard) satisfies FileStore;
}
