// The tickets store: its contract (asynchronous, what services use) and its SQLite implementation (statements prepared once per database).
import type { Database, Statement } from "bun:sqlite";
import { asyncStore, type Guard } from "../db/async-store";
import { perDatabase } from "../db/per-database";
import { type RawRow, columnList, columnNames, placeholders } from "../db/schema/raw-row";
import { type TicketPriority, type TicketStatus, type ticketTags, tickets } from "../db/schema/tickets";

/** A tickets row as SQL reads it (snake_case keys, integer times), derived from the schema. */
export type TicketRow = RawRow<typeof tickets>;
/** A ticket_tags row: one of a ticket's tags, with the ticket's status and times copied. */
export type TicketTagRow = RawRow<typeof ticketTags>;

/** A tag of the organization and how many of its tickets carry it. */
export interface TagCount {
  name: string;
  ticket_count: number;
}

const COLUMN_NAMES = columnNames(tickets);
const COLUMNS = columnList(tickets);

/** The list filters; an absent one matches everything. */
export interface TicketFilter {
  status?: TicketStatus;
  priority?: TicketPriority;
}

/**
 * The tickets of every organization and their counts per (status, priority). Every method takes the organization id:
 * no call reaches another organization's rows. Used inside a writer unit (its `tx`), calls run in that unit's
 * transaction; used elsewhere, they see committed rows only.
 */
export interface TicketStore {
  /** A page in list order (created_at DESC, id DESC), by offset. */
  page(orgId: string, f: TicketFilter, limit: number, offset: number): Promise<TicketRow[]>;
  /** The `limit` tickets that follow (created_at, id) in the list order (created_at DESC, id DESC). */
  pageAfter(orgId: string, f: TicketFilter, cursor: { created_at: number; id: string }, limit: number): Promise<TicketRow[]>;
  /** How many tickets match, from the kept counts (not a scan). */
  total(orgId: string, f: TicketFilter): Promise<number>;
  /** In a unit on PostgreSQL, locks the row (FOR UPDATE) until the unit ends. */
  get(id: string, orgId: string): Promise<TicketRow | null>;
  /**
   * The organization's tickets among `ids`, in id order (missing and foreign ids are left out). In a unit on
   * PostgreSQL, locks them (FOR UPDATE) in that order, so two units locking overlapping sets cannot deadlock.
   */
  getMany(ids: readonly string[], orgId: string): Promise<TicketRow[]>;
  /** Inserts the row, its ticket_tags rows (none when it has no tags: no statement either) and counts it. */
  insert(r: TicketRow): Promise<void>;
  /**
   * Writes `after` over the row `before` was read as (in the same unit). The counts move only when a row of that
   * organization was changed, so a stale or foreign row cannot skew them. The ticket_tags rows become `after.tags`,
   * each with the ticket's status and times as written. True when a row was updated.
   */
  update(before: TicketRow, after: TicketRow): Promise<boolean>;
  /**
   * Moves the ticket's updated_at (and its ticket_tags rows') to `at` (never back) without changing anything else: a
   * comment was added. True when the ticket exists in that organization.
   */
  touch(id: string, orgId: string, at: number): Promise<boolean>;
  /** Deletes the row (its ticket_tags rows go with it); its count moves only when a row was deleted (a second remove changes nothing). True when it was. */
  remove(r: TicketRow): Promise<boolean>;
  /**
   * A page of the organization's tags in name order, with how many tickets carry each (counted from ticket_tags, over
   * its (org_id, tag, …) key); `prefix` ("" for all) keeps the tags that start with it.
   */
  tagPage(orgId: string, prefix: string, limit: number, offset: number): Promise<TagCount[]>;
  /** How many distinct tags of the organization start with `prefix`. */
  tagTotal(orgId: string, prefix: string): Promise<number>;
  /** The ticket's ticket_tags rows, in tag order (what tag filters and counts read; for checks that they are in step). */
  tagRows(id: string, orgId: string): Promise<TicketTagRow[]>;
}

/**
 * The exclusive upper bound of the tags that start with `prefix`: `~` sorts after every character a tag may hold
 * (a-z 0-9 _ - :), so `tag >= prefix AND tag < prefix~` is one range of the (org_id, tag, …) index on both engines.
 */
export function tagRangeEnd(prefix: string): string {
  return `${prefix}~`;
}

function buildStore(db: Database) {
  const page = new Map<string, Statement<TicketRow>>();
  const after = new Map<string, Statement<TicketRow>>();
  const total = new Map<string, Statement<{ total: number | null }>>();
  const filterSql = (status: boolean, priority: boolean) => `org_id = ?${status ? " AND status = ?" : ""}${priority ? " AND priority = ?" : ""}`;
  for (const s of [false, true]) {
    for (const p of [false, true]) {
      const key = `${s}${p}`;
      page.set(key, db.prepare(`SELECT ${COLUMNS} FROM tickets WHERE ${filterSql(s, p)} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`));
      // Keyset: a row-value comparison on the index's trailing (created_at, id) columns is one seek, at any depth.
      after.set(
        key,
        db.prepare(`SELECT ${COLUMNS} FROM tickets WHERE ${filterSql(s, p)} AND (created_at, id) < (?, ?) ORDER BY created_at DESC, id DESC LIMIT ?`),
      );
      total.set(key, db.prepare(`SELECT SUM(count) AS total FROM ticket_counts WHERE ${filterSql(s, p)}`));
    }
  }
  const byId = db.prepare<TicketRow, [string, string]>(`SELECT ${COLUMNS} FROM tickets WHERE id = ? AND org_id = ?`);
  const byIds = db.prepare<TicketRow, [string, string]>(
    `SELECT ${COLUMNS} FROM tickets WHERE org_id = ? AND id IN (SELECT value FROM json_each(?)) ORDER BY id`,
  );
  const insert = db.prepare(`INSERT INTO tickets (${COLUMNS}) VALUES (${placeholders(tickets)})`);
  const update = db.prepare(
    `UPDATE tickets SET subject = ?, description = ?, status = ?, priority = ?, requester_id = ?, assignee_id = ?, tags = ?, custom_fields = ?,
       updated_at = ? WHERE id = ? AND org_id = ?`,
  );
  const remove = db.prepare(`DELETE FROM tickets WHERE id = ? AND org_id = ?`);
  const touch = db.prepare<{ updated_at: number; tags: string }, [number, string, string]>(
    `UPDATE tickets SET updated_at = MAX(updated_at, ?) WHERE id = ? AND org_id = ? RETURNING updated_at, tags`,
  );
  // ticket_tags, in step with the ticket: its tags (a JSON array) as rows, with its status and times.
  const insertTags = db.prepare(
    `INSERT INTO ticket_tags (org_id, tag, ticket_id, status, created_at, updated_at) SELECT ?, value, ?, ?, ?, ? FROM json_each(?)`,
  );
  const upsertTags = db.prepare(
    `INSERT INTO ticket_tags (org_id, tag, ticket_id, status, created_at, updated_at) SELECT ?, value, ?, ?, ?, ? FROM json_each(?) WHERE true
     ON CONFLICT (org_id, tag, ticket_id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at`,
  );
  const dropTagsNotIn = db.prepare(`DELETE FROM ticket_tags WHERE ticket_id = ? AND org_id = ? AND tag NOT IN (SELECT value FROM json_each(?))`);
  const dropTags = db.prepare(`DELETE FROM ticket_tags WHERE ticket_id = ? AND org_id = ?`);
  const touchTags = db.prepare(`UPDATE ticket_tags SET updated_at = ? WHERE ticket_id = ? AND org_id = ?`);
  const tagRows = db.prepare<TicketTagRow, [string, string]>(
    `SELECT org_id, tag, ticket_id, status, created_at, updated_at FROM ticket_tags WHERE ticket_id = ? AND org_id = ? ORDER BY tag`,
  );
  const tagPage = db.prepare<TagCount, [string, string, string, number, number]>(
    `SELECT tag AS name, COUNT(*) AS ticket_count FROM ticket_tags WHERE org_id = ? AND tag >= ? AND tag < ? GROUP BY tag ORDER BY tag LIMIT ? OFFSET ?`,
  );
  const tagTotal = db.prepare<{ total: number }, [string, string, string]>(
    `SELECT COUNT(DISTINCT tag) AS total FROM ticket_tags WHERE org_id = ? AND tag >= ? AND tag < ?`,
  );
  const bump = db.prepare(
    `INSERT INTO ticket_counts (org_id, status, priority, count) VALUES (?, ?, ?, ?)
     ON CONFLICT (org_id, status, priority) DO UPDATE SET count = count + excluded.count`,
  );

  return {
    page(orgId: string, f: TicketFilter, limit: number, offset: number): TicketRow[] {
      const args: (string | number)[] = [orgId];
      if (f.status) args.push(f.status);
      if (f.priority) args.push(f.priority);
      return page.get(`${!!f.status}${!!f.priority}`)!.all(...args, limit, offset);
    },
    pageAfter(orgId: string, f: TicketFilter, cursor: { created_at: number; id: string }, limit: number): TicketRow[] {
      const args: (string | number)[] = [orgId];
      if (f.status) args.push(f.status);
      if (f.priority) args.push(f.priority);
      return after.get(`${!!f.status}${!!f.priority}`)!.all(...args, cursor.created_at, cursor.id, limit);
    },
    total(orgId: string, f: TicketFilter): number {
      const args: string[] = [orgId];
      if (f.status) args.push(f.status);
      if (f.priority) args.push(f.priority);
      return total.get(`${!!f.status}${!!f.priority}`)!.get(...args)?.total ?? 0;
    },
    get: (id: string, orgId: string): TicketRow | null => byId.get(id, orgId),
    getMany: (ids: readonly string[], orgId: string): TicketRow[] => (ids.length === 0 ? [] : byIds.all(orgId, JSON.stringify(ids))),
    insert(r: TicketRow) {
      insert.run(...COLUMN_NAMES.map((c) => r[c]));
      bump.run(r.org_id, r.status, r.priority, 1);
      if (r.tags !== "[]") insertTags.run(r.org_id, r.id, r.status, r.created_at, r.updated_at, r.tags);
    },
    update(before: TicketRow, after: TicketRow): boolean {
      const { id, org_id } = after;
      const written = update.run(
        after.subject,
        after.description,
        after.status,
        after.priority,
        after.requester_id,
        after.assignee_id,
        after.tags,
        after.custom_fields,
        after.updated_at,
        id,
        org_id,
      );
      if (written.changes === 0) return false;
      if (before.status !== after.status || before.priority !== after.priority) {
        bump.run(before.org_id, before.status, before.priority, -1);
        bump.run(after.org_id, after.status, after.priority, 1);
      }
      // The rows become after's tags, each with after's status and times (the ticket's own created_at).
      if (after.tags === "[]") {
        if (before.tags !== "[]") dropTags.run(id, org_id);
      } else {
        if (before.tags !== "[]") dropTagsNotIn.run(id, org_id, after.tags);
        upsertTags.run(org_id, id, after.status, after.created_at, after.updated_at, after.tags);
      }
      return true;
    },
    touch(id: string, orgId: string, at: number): boolean {
      const row = touch.get(at, id, orgId);
      if (!row) return false;
      if (row.tags !== "[]") touchTags.run(row.updated_at, id, orgId);
      return true;
    },
    remove(r: TicketRow): boolean {
      if (remove.run(r.id, r.org_id).changes === 0) return false;
      bump.run(r.org_id, r.status, r.priority, -1);
      return true;
    },
    tagPage: (orgId: string, prefix: string, limit: number, offset: number): TagCount[] => tagPage.all(orgId, prefix, tagRangeEnd(prefix), limit, offset),
    tagTotal: (orgId: string, prefix: string): number => tagTotal.get(orgId, prefix, tagRangeEnd(prefix))?.total ?? 0,
    tagRows: (id: string, orgId: string): TicketTagRow[] => tagRows.all(id, orgId),
  };
}

const statements = perDatabase(buildStore);

/** The SQLite implementation over one connection (its statements shared by every view of it); `guard` see async-store.ts. */
export function sqliteTicketStore(db: Database, guard?: Guard): TicketStore {
  return asyncStore(statements(db), guard) satisfies TicketStore;
}
