// The ticket fields store on PostgreSQL: the TicketFieldStore contract over postgres.js, field changes ordered by the organization's field lock.
import type { PendingQuery, Row, Sql } from "postgres";
import { hasNul } from "../db/postgres/text";
import type { Queryable, StoreMode } from "../db/postgres/writer";
import { columnNames } from "../db/schema/raw-row";
import { ticketFields } from "../db/schema/ticket-fields";
import { withoutValue } from "./json";
import { FIELD_KEY, TicketFieldKeyTaken, type TicketFieldRow, type TicketFieldStore } from "./store";

/** Every column of `ticket_fields`, in schema order. */
const COLUMNS = columnNames(ticketFields);

/** The unique index that keeps keys apart (src/db/postgres/migrations/0005_helpdesk_core.sql); a duplicate id is `ticket_fields_pkey`. */
const KEY_INDEX = "ticket_fields_org_key";

/** PostgreSQL refused the row because of the key index (unique_violation on that constraint, nothing else). */
const isKeyConflict = (err: unknown) => {
  const e = err as { code?: unknown; constraint_name?: unknown } | null;
  return e?.code === "23505" && e.constraint_name === KEY_INDEX;
};

/**
 * The first key of the two-key advisory lock space: "tfld" (the folder-tree lock is "fldr"). The second key is the
 * organization's id hashed to 32 bits; two organizations sharing a hash only share a queue, never a wrong answer.
 */
const FIELD_LOCK_SPACE = 0x74666c64;

type FieldLockMode = "exclusive" | "shared";

/** What each open transaction already holds, by organization (a unit's stores all get the same transaction object). */
const held = new WeakMap<Queryable, Map<string, FieldLockMode>>();

/**
 * The statement that takes the organization's field lock in transaction `q` (released at its COMMIT or ROLLBACK),
 * sent now so that it goes before the caller's statement; null when the unit holds it already (exclusive covers
 * shared). A unit holding it shared never asks for it exclusively (two such units would wait for each other): that
 * is a bug in the unit, refused.
 */
function sendFieldLock(q: Queryable, orgId: string, mode: FieldLockMode): PendingQuery<Row[]> | null {
  let orgs = held.get(q);
  if (!orgs) held.set(q, (orgs = new Map()));
  const has = orgs.get(orgId);
  if (has === "exclusive" || has === mode) return null;
  if (has === "shared") throw new Error("a unit that read the ticket fields (shared lock) may not change them: call total or get first");
  orgs.set(orgId, mode);
  const sql = q as Sql;
  const key = Bun.hash.crc32(orgId) | 0;
  const lock =
    mode === "exclusive"
      ? sql`SELECT 1 AS locked FROM pg_advisory_xact_lock(${FIELD_LOCK_SPACE}::int4, ${key}::int4)`
      : sql`SELECT 1 AS locked FROM pg_advisory_xact_lock_shared(${FIELD_LOCK_SPACE}::int4, ${key}::int4)`;
  return lock.execute();
}

/** A postgres.js query not sent yet: it is sent when awaited, or by `execute()`. */
interface Sendable<T> extends PromiseLike<T> {
  execute(): PromiseLike<T>;
}

/** Tickets rewritten per statement by removeValues (two arrays of this many strings). */
const REWRITE_BATCH = 5000;

/**
 * The PostgreSQL implementation on `q` (the pool, or a unit's transaction: see StoreMode).
 *
 * In a unit, each call first takes the organization's field lock (a transaction-scoped advisory lock, sent with the
 * call's own statement: one round trip, and only the unit's first call waits for it):
 * - exclusively for `total`, `get` and the writes: field units of one organization run one after the other, so the
 *   50-field limit holds under concurrent creates (the count is read under the lock), and a PATCH or DELETE acts on
 *   the row as the previous unit left it;
 * - shared for `list` and `byKey`, what ticket units read: a ticket write that checked its values against a field
 *   commits before that field's delete removes the values (the delete waits for it, then finds the value), or runs
 *   after it and no longer sees the field; it never stores a value for a field that is gone.
 * See the lock order in TicketFieldStore. Reads on the pool take no lock.
 */
export function postgresTicketFieldStore(q: Queryable, mode: StoreMode): TicketFieldStore {
  const sql = q as Sql;
  const columns = sql(COLUMNS);
  const inUnit = mode === "tx";
  const locked = async <T>(orgId: string, lockMode: FieldLockMode, make: () => Sendable<T>): Promise<T> => {
    const lock = inUnit ? sendFieldLock(q, orgId, lockMode) : null;
    if (!lock) return await make();
    const [, result] = await Promise.all([lock, make().execute()]);
    return result;
  };

  return {
    async list(orgId) {
      const rows = await locked(
        orgId,
        "shared",
        () => sql<TicketFieldRow[]>`SELECT ${columns} FROM ticket_fields WHERE org_id = ${orgId} ORDER BY created_at, id`,
      );
      return [...rows];
    },
    async byKey(orgId, key) {
      if (hasNul(key)) return null;
      const [row] = await locked(orgId, "shared", () => sql<TicketFieldRow[]>`SELECT ${columns} FROM ticket_fields WHERE org_id = ${orgId} AND key = ${key}`);
      return row ?? null;
    },
    async page(orgId, limit, offset) {
      const rows = await sql<TicketFieldRow[]>`SELECT ${columns} FROM ticket_fields WHERE org_id = ${orgId}
        ORDER BY created_at, id LIMIT ${limit} OFFSET ${offset}`;
      return [...rows];
    },
    async total(orgId) {
      const [row] = await locked(orgId, "exclusive", () => sql<{ total: number }[]>`SELECT COUNT(*) AS total FROM ticket_fields WHERE org_id = ${orgId}`);
      return row?.total ?? 0;
    },
    async get(id, orgId) {
      if (hasNul(id)) return null;
      const [row] = await locked(orgId, "exclusive", () => sql<TicketFieldRow[]>`SELECT ${columns} FROM ticket_fields WHERE id = ${id} AND org_id = ${orgId}`);
      return row ?? null;
    },
    async insert(r) {
      try {
        await locked(r.org_id, "exclusive", () => sql`INSERT INTO ticket_fields ${sql(r, COLUMNS)}`);
      } catch (err) {
        throw isKeyConflict(err) ? new TicketFieldKeyTaken(r.org_id, r.key) : err;
      }
    },
    async update(r) {
      const result = await locked(
        r.org_id,
        "exclusive",
        () => sql`UPDATE ticket_fields SET title = ${r.title}, options = ${r.options}, required = ${r.required}, updated_at = ${r.updated_at}
          WHERE id = ${r.id} AND org_id = ${r.org_id}`,
      );
      return result.count > 0;
    },
    async remove(id, orgId) {
      if (hasNul(id)) return false;
      const result = await locked(orgId, "exclusive", () => sql`DELETE FROM ticket_fields WHERE id = ${id} AND org_id = ${orgId}`);
      return result.count > 0;
    },
    async removeValues(orgId, key) {
      if (!FIELD_KEY.test(key)) throw new Error(`not a ticket field key: ${JSON.stringify(key)}`);
      // The rows are rewritten in JavaScript (json.ts), as on SQLite: jsonb would print its own text (spaces, keys by
      // length), and the stored text must be the same on both engines. Locked FOR UPDATE, in id order.
      const rows = await locked(
        orgId,
        "exclusive",
        () => sql<{ id: string; custom_fields: string }[]>`SELECT id, custom_fields FROM tickets
          WHERE org_id = ${orgId} AND jsonb_exists(custom_fields::jsonb, ${key}) ORDER BY id FOR UPDATE`,
      );
      for (let i = 0; i < rows.length; i += REWRITE_BATCH) {
        const batch = rows.slice(i, i + REWRITE_BATCH);
        const ids = batch.map((r) => r.id);
        const texts = batch.map((r) => withoutValue(r.custom_fields, key));
        await sql`UPDATE tickets t SET custom_fields = v.custom_fields
          FROM unnest(${sql.array(ids)}::text[], ${sql.array(texts)}::text[]) AS v(id, custom_fields)
          WHERE t.id = v.id AND t.org_id = ${orgId}`;
      }
      return rows.length;
    },
  };
}
