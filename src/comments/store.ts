// The comments store: its contract (asynchronous, what services use) and its SQLite implementation (statements prepared once per database).
import type { Database, Statement } from "bun:sqlite";
import { asyncStore, type Guard } from "../db/async-store";
import { perDatabase } from "../db/per-database";
import { comments } from "../db/schema/comments";
import { files } from "../db/schema/files";
import { columnList, columnNames, placeholders, type RawRow } from "../db/schema/raw-row";
import type { FileRow } from "../files/store";

/** A comments row as SQL reads it (snake_case keys, integer times, `public` 0 or 1), derived from the schema. */
export type CommentRow = RawRow<typeof comments>;

/** A file attached to a comment: the file's row and the comment it is attached to. */
export type AttachedFileRow = FileRow & { comment_id: string };

/** What a redacted comment's body becomes. */
export const REDACTED_BODY = "[redacted]";

const COLUMN_NAMES = columnNames(comments);
const COLUMNS = columnList(comments);

/** The list filter: only public replies (true), only internal notes (false), or both (absent). */
export interface CommentFilter {
  public?: boolean;
}

/**
 * The comments of every ticket of every organization, and the files attached to them. Every method takes the
 * organization id: no call reaches another organization's rows. A ticket's comments are listed oldest first
 * (created_at ASC, id ASC). Used inside a writer unit (its `tx`), calls run in that unit's transaction; used elsewhere,
 * they see committed rows only.
 */
export interface CommentStore {
  /**
   * Inserts the comment and one comment_attachments row per file (`position` = its index in `fileIds`). The ticket and
   * the files must exist (check them in the same unit: tickets.get, files.attachToTicket).
   */
  insert(r: CommentRow, fileIds: readonly string[]): Promise<void>;
  /** The comment, if it is one of this ticket's in this organization. In a unit on PostgreSQL the row is locked. */
  get(id: string, ticketId: string, orgId: string): Promise<CommentRow | null>;
  /** A page of the ticket's comments in list order (oldest first), by offset. */
  page(orgId: string, ticketId: string, f: CommentFilter, limit: number, offset: number): Promise<CommentRow[]>;
  /** The `limit` comments of the ticket that follow (created_at, id) in list order. */
  pageAfter(orgId: string, ticketId: string, f: CommentFilter, cursor: { created_at: number; id: string }, limit: number): Promise<CommentRow[]>;
  /** How many of the ticket's comments match (exact: a count over the ticket's index range). */
  total(orgId: string, ticketId: string, f: CommentFilter): Promise<number>;
  /**
   * Redacts a comment that is not redacted yet: body `[redacted]`, redacted_at `at`, redacted_by `by`, its
   * comment_attachments rows removed (the files themselves are the caller's to delete). True when it did; false (and
   * nothing written) for a comment already redacted or not the organization's.
   */
  redact(id: string, orgId: string, at: number, by: string): Promise<boolean>;
  /** The files attached to these comments of the organization, in one query: by comment, then in attachment order. */
  attachedFiles(orgId: string, commentIds: readonly string[]): Promise<AttachedFileRow[]>;
}

function buildStore(db: Database) {
  const page = new Map<boolean, Statement<CommentRow>>();
  const after = new Map<boolean, Statement<CommentRow>>();
  const total = new Map<boolean, Statement<{ total: number }>>();
  // The ticket's index range (ticket_id, created_at, id) in order; org_id and public filter the rows it holds.
  for (const pub of [false, true]) {
    const where = `ticket_id = ? AND org_id = ?${pub ? " AND public = ?" : ""}`;
    page.set(pub, db.prepare(`SELECT ${COLUMNS} FROM comments WHERE ${where} ORDER BY created_at, id LIMIT ? OFFSET ?`));
    after.set(pub, db.prepare(`SELECT ${COLUMNS} FROM comments WHERE ${where} AND (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ?`));
    total.set(pub, db.prepare(`SELECT COUNT(*) AS total FROM comments WHERE ${where}`));
  }
  const byId = db.prepare<CommentRow, [string, string, string]>(`SELECT ${COLUMNS} FROM comments WHERE id = ? AND ticket_id = ? AND org_id = ?`);
  const insert = db.prepare(`INSERT INTO comments (${COLUMNS}) VALUES (${placeholders(comments)})`);
  const attach = db.prepare(`INSERT INTO comment_attachments (comment_id, file_id, position) VALUES (?, ?, ?)`);
  const redact = db.prepare(
    `UPDATE comments SET body = '${REDACTED_BODY}', redacted_at = ?, redacted_by = ? WHERE id = ? AND org_id = ? AND redacted_at IS NULL`,
  );
  const detach = db.prepare(`DELETE FROM comment_attachments WHERE comment_id = ?`);
  // The ids as one JSON array parameter: one statement whatever their number.
  const attached = db.prepare<AttachedFileRow, [string, string]>(
    `SELECT a.comment_id AS comment_id, ${columnList(files, "f")} FROM comment_attachments a JOIN files f ON f.id = a.file_id
     WHERE a.comment_id IN (SELECT value FROM json_each(?)) AND f.org_id = ? ORDER BY a.comment_id, a.position`,
  );
  const args = (orgId: string, ticketId: string, f: CommentFilter): (string | number)[] =>
    f.public === undefined ? [ticketId, orgId] : [ticketId, orgId, f.public ? 1 : 0];

  return {
    insert(r: CommentRow, fileIds: readonly string[]): void {
      insert.run(...COLUMN_NAMES.map((c) => r[c]));
      fileIds.forEach((fileId, position) => attach.run(r.id, fileId, position));
    },
    get: (id: string, ticketId: string, orgId: string): CommentRow | null => byId.get(id, ticketId, orgId),
    page: (orgId: string, ticketId: string, f: CommentFilter, limit: number, offset: number): CommentRow[] =>
      page.get(f.public !== undefined)!.all(...args(orgId, ticketId, f), limit, offset),
    pageAfter: (orgId: string, ticketId: string, f: CommentFilter, cursor: { created_at: number; id: string }, limit: number): CommentRow[] =>
      after.get(f.public !== undefined)!.all(...args(orgId, ticketId, f), cursor.created_at, cursor.id, limit),
    total: (orgId: string, ticketId: string, f: CommentFilter): number => total.get(f.public !== undefined)!.get(...args(orgId, ticketId, f))?.total ?? 0,
    redact(id: string, orgId: string, at: number, by: string): boolean {
      if (redact.run(at, by, id, orgId).changes === 0) return false;
      detach.run(id);
      return true;
    },
    attachedFiles: (orgId: string, commentIds: readonly string[]): AttachedFileRow[] =>
      commentIds.length ? attached.all(JSON.stringify(commentIds), orgId) : [],
  };
}

const statements = perDatabase(buildStore);

/** The SQLite implementation over one connection (its statements shared by every view of it); `guard` see async-store.ts. */
export function sqliteCommentStore(db: Database, guard?: Guard): CommentStore {
  return asyncStore(statements(db), guard) satisfies CommentStore;
}
