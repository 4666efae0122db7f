// The tickets store: its contract (asynchronous, what services use) and its SQLite implementation (statements prepared once per database).
import type { Database, Statement } from "bun:sqlite";
import { asyncStore, type Guard } from "../db/async-store";
import { perDatabase } from "../db/per-database";
import { type RawRow, columnList, columnNames, placeholders } from "../db/schema/raw-row";
import { type TicketPriority, type TicketStatus, tickets } from "../db/schema/tickets";

/** A tickets row as SQL reads it (snake_case keys, integer times), derived from the schema. */
export type TicketRow = RawRow<typeof tickets>;

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
  get(id: string, orgId: string): Promise<TicketRow | null>;
  /** Inserts the row and counts it. */
  insert(r: TicketRow): Promise<void>;
  /**
   * Writes `after` over the row `before` was read as (in the same unit). The counts move only when a row of that
   * organization was changed, so a stale or foreign row cannot skew them. True when a row was updated.
   */
  update(before: TicketRow, after: TicketRow): Promise<boolean>;
  /**
   * Moves the ticket's updated_at to `at` (never back) without changing anything else: a comment was added. True when
   * the ticket exists in that organization.
   */
  touch(id: string, orgId: string, at: number): Promise<boolean>;
  /** Deletes the row; its count moves only when a row was deleted (a second remove changes nothing). True when it was. */
  remove(r: TicketRow): Promise<boolean>;
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
  const insert = db.prepare(`INSERT INTO tickets (${COLUMNS}) VALUES (${placeholders(tickets)})`);
  const update = db.prepare(`UPDATE tickets SET subject = ?, description = ?, status = ?, priority = ?, updated_at = ? WHERE id = ? AND org_id = ?`);
  const remove = db.prepare(`DELETE FROM tickets WHERE id = ? AND org_id = ?`);
  const touch = db.prepare(`UPDATE tickets SET updated_at = MAX(updated_at, ?) WHERE id = ? AND org_id = ?`);
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
    insert(r: TicketRow) {
      insert.run(...COLUMN_NAMES.map((c) => r[c]));
      bump.run(r.org_id, r.status, r.priority, 1);
    },
    update(before: TicketRow, after: TicketRow): boolean {
      if (update.run(after.subject, after.description, after.status, after.priority, after.updated_at, after.id, after.org_id).changes === 0) return false;
      if (before.status !== after.status || before.priority !== after.priority) {
        bump.run(before.org_id, before.status, before.priority, -1);
        bump.run(after.org_id, after.status, after.priority, 1);
      }
      return true;
    },
    touch: (id: string, orgId: string, at: number): boolean => touch.run(at, id, orgId).changes > 0,
    remove(r: TicketRow): boolean {
      if (remove.run(r.id, r.org_id).changes === 0) return false;
      bump.run(r.org_id, r.status, r.priority, -1);
      return true;
    },
  };
}

const statements = perDatabase(buildStore);

/** The SQLite implementation over one connection (its statements shared by every view of it); `guard` see async-store.ts. */
export function sqliteTicketStore(db: Database, guard?: Guard): TicketStore {
  return asyncStore(statements(db), guard) satisfies TicketStore;
}
