// The contacts store on PostgreSQL: the ContactStore contract over postgres.js, one statement (one round trip) per call.
import type { Sql } from "postgres";
import { hasNul } from "../db/postgres/text";
import type { Queryable, StoreMode } from "../db/postgres/writer";
import { contacts } from "../db/schema/contacts";
import { columnNames } from "../db/schema/raw-row";
import { type ContactFilter, type ContactRow, type ContactStore, ContactTaken, type ContactUniqueField, prefixUpperBound } from "./store";

/** Every column of `contacts`, in schema order: the one column list of the table (SELECTs and the INSERT). */
const COLUMNS = columnNames(contacts);

/** The unique indexes of migration 0005 and the field each keeps unique. */
const UNIQUE_INDEXES: Record<string, ContactUniqueField> = { contacts_org_email: "email", contacts_org_external: "external_id" };

/** PostgreSQL refused the row because of one of our unique indexes (unique_violation on it): ContactTaken; else as it was. */
function asTaken(err: unknown): unknown {
  const e = err as { code?: unknown; constraint_name?: unknown } | null;
  const field = e?.code === "23505" && typeof e.constraint_name === "string" ? UNIQUE_INDEXES[e.constraint_name] : undefined;
  return field ? new ContactTaken(field) : err;
}

/** True when no row can match the filter (PostgreSQL text cannot hold U+0000; see db/postgres/text.ts). */
const impossible = (f: ContactFilter) => hasNul(f.prefix, f.emailKey);

/**
 * The PostgreSQL implementation on `q` (the pool, or a unit's transaction: see StoreMode).
 *
 * - `get` in a unit locks the row (`FOR UPDATE`): updateContact and deleteContact read it to decide their write, so
 *   a concurrent unit waits for this one's COMMIT and then reads the row as it left it.
 * - Uniqueness (email_key, external_id per organization) is the indexes' job: a duplicate insert or update waits for
 *   the unit holding the other row and fails with unique_violation once that one commits, turned into ContactTaken —
 *   two concurrent creates of one email give one row and one ContactTaken, never an unknown error.
 * - `insertIfAbsent` is `INSERT … ON CONFLICT (org_id, email_key) DO NOTHING`: it waits likewise, then writes nothing;
 *   the caller's next statement (byEmailKey, READ COMMITTED) sees the row the other unit committed.
 */
export function postgresContactStore(q: Queryable, mode: StoreMode): ContactStore {
  const sql = q as Sql;
  const columns = sql(COLUMNS);
  const where = (orgId: string, f: ContactFilter) => {
    if (f.emailKey !== undefined) return sql`org_id = ${orgId} AND email_key = ${f.emailKey}`;
    if (f.prefix !== undefined && f.prefix !== "") {
      // Two range scans (contacts_org_email, contacts_org_name) feeding the ids, as on SQLite: no scan of the organization.
      const p = f.prefix;
      const upper = prefixUpperBound(p);
      const range = (col: "email_key" | "name_key") => (upper === null ? sql`${sql(col)} >= ${p}` : sql`${sql(col)} >= ${p} AND ${sql(col)} < ${upper}`);
      return sql`id IN (SELECT id FROM contacts WHERE org_id = ${orgId} AND ${range("email_key")}
        UNION ALL SELECT id FROM contacts WHERE org_id = ${orgId} AND ${range("name_key")})`;
    }
    return f.includeDeleted ? sql`org_id = ${orgId}` : sql`org_id = ${orgId} AND deleted_at IS NULL`;
  };

  return {
    async page(orgId, f, limit, offset) {
      if (impossible(f)) return [];
      const rows = await sql<ContactRow[]>`SELECT ${columns} FROM contacts WHERE ${where(orgId, f)}
        ORDER BY created_at DESC, id DESC LIMIT ${limit} OFFSET ${offset}`;
      return [...rows];
    },
    async pageAfter(orgId, f, cursor, limit) {
      if (impossible(f)) return [];
      // Keyset: the row-value comparison on contacts_org_created's trailing (created_at, id) columns is one seek at any depth.
      const rows = await sql<ContactRow[]>`SELECT ${columns} FROM contacts WHERE ${where(orgId, f)}
        AND (created_at, id) < (${cursor.created_at}, ${cursor.id})
        ORDER BY created_at DESC, id DESC LIMIT ${limit}`;
      return [...rows];
    },
    async total(orgId, f) {
      if (impossible(f)) return 0;
      const [row] = await sql<{ total: number }[]>`SELECT COUNT(*) AS total FROM contacts WHERE ${where(orgId, f)}`;
      return row?.total ?? 0;
    },
    async get(id, orgId) {
      if (hasNul(id)) return null;
      const [row] =
        mode === "tx"
          ? await sql<ContactRow[]>`SELECT ${columns} FROM contacts WHERE id = ${id} AND org_id = ${orgId} FOR UPDATE`
          : await sql<ContactRow[]>`SELECT ${columns} FROM contacts WHERE id = ${id} AND org_id = ${orgId}`;
      return row ?? null;
    },
    async byEmailKey(orgId, emailKey) {
      if (hasNul(emailKey)) return null;
      const [row] = await sql<ContactRow[]>`SELECT ${columns} FROM contacts WHERE org_id = ${orgId} AND email_key = ${emailKey}`;
      return row ?? null;
    },
    async insert(r) {
      try {
        await sql`INSERT INTO contacts ${sql(r, COLUMNS)}`;
      } catch (err) {
        throw asTaken(err);
      }
    },
    async insertIfAbsent(r) {
      const result = await sql`INSERT INTO contacts ${sql(r, COLUMNS)} ON CONFLICT (org_id, email_key) DO NOTHING`;
      return result.count > 0;
    },
    async update(r) {
      try {
        const result = await sql`UPDATE contacts SET email = ${r.email}, email_key = ${r.email_key}, name = ${r.name}, name_key = ${r.name_key},
            phone = ${r.phone}, external_id = ${r.external_id}, updated_at = ${r.updated_at}
          WHERE id = ${r.id} AND org_id = ${r.org_id} AND deleted_at IS NULL`;
        return result.count > 0;
      } catch (err) {
        throw asTaken(err);
      }
    },
    async erase(id, orgId, at) {
      if (hasNul(id)) return null;
      const [row] = await sql<ContactRow[]>`UPDATE contacts SET email = NULL, email_key = NULL, name = NULL, name_key = NULL, phone = NULL,
          external_id = NULL, deleted_at = ${at}, updated_at = GREATEST(updated_at, ${at})
        WHERE id = ${id} AND org_id = ${orgId} AND deleted_at IS NULL RETURNING ${columns}`;
      return row ?? null;
    },
  };
}
