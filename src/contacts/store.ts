// The contacts store: its contract (asynchronous, what services use) and its SQLite implementation (statements prepared once per database).
import type { Database, Statement } from "bun:sqlite";
import { asyncStore, type Guard } from "../db/async-store";
import { perDatabase } from "../db/per-database";
import { contacts } from "../db/schema/contacts";
import { columnList, columnNames, placeholders, type RawRow } from "../db/schema/raw-row";

/** A contacts row as SQL reads it (snake_case keys, integer times), derived from the schema. */
export type ContactRow = RawRow<typeof contacts>;

const COLUMN_NAMES = columnNames(contacts);
const COLUMNS = columnList(contacts);

/**
 * The list filters; an absent one matches everything. `prefix` and `emailKey` are already lowercased (as the keys are
 * stored); both only ever match contacts that are not deleted (an erased contact has no keys).
 */
export interface ContactFilter {
  /** A prefix of email_key or name_key: two index range scans, no pattern scan. */
  prefix?: string;
  /** Exactly this email_key. */
  emailKey?: string;
  /** Also list deleted (erased) contacts; without it they are left out. */
  includeDeleted?: boolean;
}

/** The unique field an insert or update would duplicate within the organization. */
export type ContactUniqueField = "email" | "external_id";

/**
 * An insert or update would give a contact the email (compared by email_key) or the external_id another contact of
 * the organization has: the unique index refused it. Every engine throws this, whatever its own error is, so the
 * service can answer 409 on any of them.
 */
export class ContactTaken extends Error {
  override name = "ContactTaken";
  constructor(readonly field: ContactUniqueField) {
    super(`another contact of the organization has this ${field === "email" ? "email" : "external_id"}`);
  }
}

/**
 * The contacts (requesters) of every organization. Every method takes the organization id: no call reaches another
 * organization's rows. Deleted contacts stay as rows with their personal fields erased (null) and deleted_at set.
 * Used inside a writer unit (its `tx`), calls run in that unit's transaction; used elsewhere, they see committed rows.
 */
export interface ContactStore {
  /** A page in list order (created_at DESC, id DESC), by offset. */
  page(orgId: string, f: ContactFilter, limit: number, offset: number): Promise<ContactRow[]>;
  /** The `limit` contacts that follow (created_at, id) in the list order (created_at DESC, id DESC). */
  pageAfter(orgId: string, f: ContactFilter, cursor: { created_at: number; id: string }, limit: number): Promise<ContactRow[]>;
  /** How many contacts match (exact). */
  total(orgId: string, f: ContactFilter): Promise<number>;
  /** The contact, deleted ones too. In a unit on PostgreSQL the row is locked (a read that decides a write). */
  get(id: string, orgId: string): Promise<ContactRow | null>;
  /** The (non-deleted) contact whose email_key is exactly this, if any. */
  byEmailKey(orgId: string, emailKey: string): Promise<ContactRow | null>;
  /** Inserts the row. ContactTaken when its email_key or external_id is the organization's already. */
  insert(r: ContactRow): Promise<void>;
  /**
   * Inserts the row unless a contact of the organization has its email_key (then nothing is written, also when that
   * contact's unit has not committed yet: it waits for it). True when inserted. Two units inserting the same new
   * email at once: one inserts, the other gets false and then finds the row with byEmailKey.
   */
  insertIfAbsent(r: ContactRow): Promise<boolean>;
  /**
   * Writes the row's email, email_key, name, name_key, phone, external_id and updated_at over the organization's
   * contact with its id, unless it is deleted. True when a row was updated. ContactTaken on a duplicate.
   */
  update(r: ContactRow): Promise<boolean>;
  /**
   * Erases the contact: email, email_key, name, name_key, phone and external_id become null and deleted_at `at`.
   * The erased row, or null when there is no such contact or it was deleted already (a second erase changes nothing).
   */
  erase(id: string, orgId: string, at: number): Promise<ContactRow | null>;
}

/** The smallest string above every string that starts with `prefix`, in code point (= UTF-8 byte) order; null when none. */
export function prefixUpperBound(prefix: string): string | null {
  const points = [...prefix].map((c) => c.codePointAt(0)!);
  while (points.length) {
    const last = points.pop()!;
    if (last >= 0x10ffff) continue; // no code point above it: bump the one before
    points.push(last === 0xd7ff ? 0xe000 : last + 1); // surrogates are not characters: skip them
    return String.fromCodePoint(...points);
  }
  return null;
}

/**
 * The list filter's SQLite WHERE (numbered placeholders, ?1 the org id), the name of its statement shape and its
 * arguments after the org id. Exported for the query-plan test (test/contacts-plan.test.ts).
 */
export function filterShape(f: ContactFilter): { key: string; where: string; args: string[] } {
  if (f.emailKey !== undefined) return { key: "email", where: "org_id = ?1 AND email_key = ?2", args: [f.emailKey] };
  if (f.prefix !== undefined && f.prefix !== "") {
    // Two range scans (contacts_org_email, contacts_org_name) feeding the ids: no scan of the organization's contacts,
    // and a contact matching both counts once. Written out, not as an OR: with ORDER BY … LIMIT the planner would
    // rather walk contacts_org_created and test every row.
    const upper = prefixUpperBound(f.prefix);
    const range = (col: string) => (upper === null ? `${col} >= ?2` : `${col} >= ?2 AND ${col} < ?3`);
    return {
      key: upper === null ? "prefix-open" : "prefix",
      where: `id IN (SELECT id FROM contacts WHERE org_id = ?1 AND ${range("email_key")} UNION ALL SELECT id FROM contacts WHERE org_id = ?1 AND ${range("name_key")})`,
      args: upper === null ? [f.prefix] : [f.prefix, upper],
    };
  }
  return f.includeDeleted ? { key: "all", where: "org_id = ?1", args: [] } : { key: "live", where: "org_id = ?1 AND deleted_at IS NULL", args: [] };
}

/** One filter of each statement shape (what buildStore prepares). */
const SHAPES: ContactFilter[] = [{ emailKey: "" }, { prefix: "a" }, { prefix: "\u{10ffff}" }, { includeDeleted: true }, {}];

/** Which unique index refused a row (bun:sqlite: "UNIQUE constraint failed: contacts.org_id, contacts.email_key"), if one of ours. */
function takenField(err: unknown): ContactUniqueField | null {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (e?.code !== "SQLITE_CONSTRAINT_UNIQUE" || typeof e.message !== "string") return null;
  if (e.message.includes("contacts.email_key")) return "email";
  if (e.message.includes("contacts.external_id")) return "external_id";
  return null;
}

function asTaken(err: unknown): unknown {
  const field = takenField(err);
  return field ? new ContactTaken(field) : err;
}

function buildStore(db: Database) {
  const page = new Map<string, Statement<ContactRow>>();
  const after = new Map<string, Statement<ContactRow>>();
  const total = new Map<string, Statement<{ total: number }>>();
  for (const sample of SHAPES) {
    const { key, where, args } = filterShape(sample);
    // Paging's placeholders are numbered after the filter's (?1 the org id, then its arguments).
    const n = 1 + args.length;
    page.set(key, db.prepare(`SELECT ${COLUMNS} FROM contacts WHERE ${where} ORDER BY created_at DESC, id DESC LIMIT ?${n + 1} OFFSET ?${n + 2}`));
    // Keyset: a row-value comparison on contacts_org_created's trailing (created_at, id) columns is one seek, at any depth.
    after.set(
      key,
      db.prepare(
        `SELECT ${COLUMNS} FROM contacts WHERE ${where} AND (created_at, id) < (?${n + 1}, ?${n + 2}) ORDER BY created_at DESC, id DESC LIMIT ?${n + 3}`,
      ),
    );
    total.set(key, db.prepare(`SELECT COUNT(*) AS total FROM contacts WHERE ${where}`));
  }
  const byId = db.prepare<ContactRow, [string, string]>(`SELECT ${COLUMNS} FROM contacts WHERE id = ? AND org_id = ?`);
  const byEmail = db.prepare<ContactRow, [string, string]>(`SELECT ${COLUMNS} FROM contacts WHERE org_id = ? AND email_key = ?`);
  const insert = db.prepare(`INSERT INTO contacts (${COLUMNS}) VALUES (${placeholders(contacts)})`);
  const insertIfAbsent = db.prepare(`INSERT INTO contacts (${COLUMNS}) VALUES (${placeholders(contacts)}) ON CONFLICT (org_id, email_key) DO NOTHING`);
  const update = db.prepare(
    `UPDATE contacts SET email = ?, email_key = ?, name = ?, name_key = ?, phone = ?, external_id = ?, updated_at = ?
     WHERE id = ? AND org_id = ? AND deleted_at IS NULL`,
  );
  const erase = db.prepare<ContactRow, [number, string, string]>(
    `UPDATE contacts SET email = NULL, email_key = NULL, name = NULL, name_key = NULL, phone = NULL, external_id = NULL, deleted_at = ?1, updated_at = MAX(updated_at, ?1)
     WHERE id = ?2 AND org_id = ?3 AND deleted_at IS NULL RETURNING ${COLUMNS}`,
  );
  const values = (r: ContactRow) => COLUMN_NAMES.map((c) => r[c]);

  return {
    page(orgId: string, f: ContactFilter, limit: number, offset: number): ContactRow[] {
      const s = filterShape(f);
      return page.get(s.key)!.all(orgId, ...s.args, limit, offset);
    },
    pageAfter(orgId: string, f: ContactFilter, cursor: { created_at: number; id: string }, limit: number): ContactRow[] {
      const s = filterShape(f);
      return after.get(s.key)!.all(orgId, ...s.args, cursor.created_at, cursor.id, limit);
    },
    total(orgId: string, f: ContactFilter): number {
      const s = filterShape(f);
      return total.get(s.key)!.get(orgId, ...s.args)?.total ?? 0;
    },
    get: (id: string, orgId: string): ContactRow | null => byId.get(id, orgId),
    byEmailKey: (orgId: string, emailKey: string): ContactRow | null => byEmail.get(orgId, emailKey),
    insert(r: ContactRow): void {
      try {
        insert.run(...values(r));
      } catch (err) {
        throw asTaken(err);
      }
    },
    insertIfAbsent: (r: ContactRow): boolean => insertIfAbsent.run(...values(r)).changes > 0,
    update(r: ContactRow): boolean {
      try {
        return update.run(r.email, r.email_key, r.name, r.name_key, r.phone, r.external_id, r.updated_at, r.id, r.org_id).changes > 0;
      } catch (err) {
        throw asTaken(err);
      }
    },
    erase: (id: string, orgId: string, at: number): ContactRow | null => erase.get(at, id, orgId),
  };
}

const statements = perDatabase(buildStore);

/** The SQLite implementation over one connection (its statements shared by every view of it); `guard` see async-store.ts. */
export function sqliteContactStore(db: Database, guard?: Guard): ContactStore {
  return asyncStore(statements(db), guard) satisfies ContactStore;
}
