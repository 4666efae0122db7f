// The ticket fields store: its contract (asynchronous, what services use) and its SQLite implementation (statements prepared once per database).
import type { Database } from "bun:sqlite";
import { asyncStore, type Guard } from "../db/async-store";
import { perDatabase } from "../db/per-database";
import { columnList, columnNames, placeholders, type RawRow } from "../db/schema/raw-row";
import { ticketFields } from "../db/schema/ticket-fields";
import { withoutValue } from "./json";

/** A ticket_fields row as SQL reads it: `options` a JSON array (dropdown) or null, `required` 0 or 1. */
export type TicketFieldRow = RawRow<typeof ticketFields>;

const COLUMN_NAMES = columnNames(ticketFields);
const COLUMNS = columnList(ticketFields);

/**
 * An insert would give the organization a second field with the same key (the unique index on org and key refused
 * it). Every engine throws this, whatever its own error is, so the service can answer 409 on any of them.
 */
export class TicketFieldKeyTaken extends Error {
  override name = "TicketFieldKeyTaken";
  constructor(
    readonly orgId: string,
    readonly key: string,
  ) {
    super(`a ticket field with the key ${JSON.stringify(key)} already exists`);
  }
}

/**
 * The custom ticket fields of every organization, and their values on the organization's tickets (the key's entry in
 * tickets.custom_fields). Every method takes the organization id: no call reaches another organization's rows. Used
 * inside a writer unit (its `tx`), calls run in that unit's transaction; used elsewhere, they see committed rows only.
 *
 * Lock order in a unit (PostgreSQL; SQLite has one writer): a unit that changes fields calls `total` or `get` first,
 * which takes the organization's field lock exclusively; a unit that writes tickets takes it shared through `list` or
 * `byKey`, and must do so before it locks any ticket row (tx.tickets.get), so that a field delete (field lock, then
 * the tickets holding a value) and a ticket write lock in the same order and cannot deadlock.
 */
export interface TicketFieldStore {
  /** Every field of the organization, oldest first (created_at, then id): what a ticket's values are checked against. */
  list(orgId: string): Promise<TicketFieldRow[]>;
  /** The organization's field with this key, if any. */
  byKey(orgId: string, key: string): Promise<TicketFieldRow | null>;
  /** A page in list order (oldest first, id tie-break), by offset. */
  page(orgId: string, limit: number, offset: number): Promise<TicketFieldRow[]>;
  /** How many fields the organization has. */
  total(orgId: string): Promise<number>;
  get(id: string, orgId: string): Promise<TicketFieldRow | null>;
  /** Inserts the row. TicketFieldKeyTaken if the organization has a field with its key. */
  insert(r: TicketFieldRow): Promise<void>;
  /** Writes the row's title, options, required and updated_at over the organization's field with its id; true when one was. */
  update(r: TicketFieldRow): Promise<boolean>;
  /** Deletes the field (not its values: see removeValues); true when a row was deleted. */
  remove(id: string, orgId: string): Promise<boolean>;
  /**
   * Removes the key's value from every ticket of the organization that has one, leaving the rest of each ticket's
   * custom_fields as it was (same key order, same JSON text) and nothing else of the ticket (updated_at included).
   * Returns how many tickets changed.
   */
  removeValues(orgId: string, key: string): Promise<number>;
}

/** The unique index on (org_id, key) refused the row (a duplicate id is SQLITE_CONSTRAINT_PRIMARYKEY). */
const isKeyConflict = (err: unknown) => (err as { code?: unknown } | null)?.code === "SQLITE_CONSTRAINT_UNIQUE";

/** Field keys as the service admits them: a JSON path `$.key` or a jsonb key needs no quoting. */
export const FIELD_KEY = /^[a-z0-9_]{1,64}$/;

/** The JSON path of a key (`$.key`); refuses anything but a field key, which would need quoting. */
function pathOf(key: string): string {
  if (!FIELD_KEY.test(key)) throw new Error(`not a ticket field key: ${JSON.stringify(key)}`);
  return `$.${key}`;
}

function buildStore(db: Database) {
  const list = db.prepare<TicketFieldRow, [string]>(`SELECT ${COLUMNS} FROM ticket_fields WHERE org_id = ? ORDER BY created_at, id`);
  const byKey = db.prepare<TicketFieldRow, [string, string]>(`SELECT ${COLUMNS} FROM ticket_fields WHERE org_id = ? AND key = ?`);
  const page = db.prepare<TicketFieldRow, [string, number, number]>(
    `SELECT ${COLUMNS} FROM ticket_fields WHERE org_id = ? ORDER BY created_at, id LIMIT ? OFFSET ?`,
  );
  const total = db.prepare<{ total: number }, [string]>(`SELECT COUNT(*) AS total FROM ticket_fields WHERE org_id = ?`);
  const byId = db.prepare<TicketFieldRow, [string, string]>(`SELECT ${COLUMNS} FROM ticket_fields WHERE id = ? AND org_id = ?`);
  const insert = db.prepare(`INSERT INTO ticket_fields (${COLUMNS}) VALUES (${placeholders(ticketFields)})`);
  const update = db.prepare(`UPDATE ticket_fields SET title = ?, options = ?, required = ?, updated_at = ? WHERE id = ? AND org_id = ?`);
  const remove = db.prepare(`DELETE FROM ticket_fields WHERE id = ? AND org_id = ?`);
  const withValue = db.prepare<{ id: string; custom_fields: string }, [string, string]>(
    `SELECT id, custom_fields FROM tickets WHERE org_id = ? AND json_type(custom_fields, ?) IS NOT NULL`,
  );
  const setValues = db.prepare(`UPDATE tickets SET custom_fields = ? WHERE id = ? AND org_id = ?`);

  return {
    list: (orgId: string): TicketFieldRow[] => list.all(orgId),
    byKey: (orgId: string, key: string): TicketFieldRow | null => byKey.get(orgId, key),
    page: (orgId: string, limit: number, offset: number): TicketFieldRow[] => page.all(orgId, limit, offset),
    total: (orgId: string): number => total.get(orgId)?.total ?? 0,
    get: (id: string, orgId: string): TicketFieldRow | null => byId.get(id, orgId),
    insert(r: TicketFieldRow): void {
      try {
        insert.run(...COLUMN_NAMES.map((c) => r[c]));
      } catch (err) {
        throw isKeyConflict(err) ? new TicketFieldKeyTaken(r.org_id, r.key) : err;
      }
    },
    update: (r: TicketFieldRow): boolean => update.run(r.title, r.options, r.required, r.updated_at, r.id, r.org_id).changes > 0,
    remove: (id: string, orgId: string): boolean => remove.run(id, orgId).changes > 0,
    removeValues(orgId: string, key: string): number {
      // Rewritten in JavaScript (json.ts), as PostgreSQL does: the same text on both engines, whatever SQLite's
      // json_remove or PostgreSQL's jsonb would print.
      const rows = withValue.all(orgId, pathOf(key));
      for (const r of rows) setValues.run(withoutValue(r.custom_fields, key), r.id, orgId);
      return rows.length;
    },
  };
}

const statements = perDatabase(buildStore);

/** The SQLite implementation over one connection (its statements shared by every view of it); `guard` see async-store.ts. */
export function sqliteTicketFieldStore(db: Database, guard?: Guard): TicketFieldStore {
  return asyncStore(statements(db), guard) satisfies TicketFieldStore;
}
