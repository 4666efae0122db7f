// The tickets store on PostgreSQL: the TicketStore contract over postgres.js, one statement (one round trip) per call, counts kept in the same statement, in shards.
import type { Sql } from "postgres";
import { hasNul } from "../db/postgres/text";
import type { Queryable, StoreMode } from "../db/postgres/writer";
import { columnNames } from "../db/schema/raw-row";
import { tickets } from "../db/schema/tickets";
import { type TagCount, type TicketFilter, type TicketRow, type TicketStore, type TicketTagRow, tagRangeEnd } from "./store";

/** Every column of `tickets`, in schema order: the one column list of the table (SELECTs and the INSERT). */
const COLUMNS = columnNames(tickets);

/** Rows each (org, status, priority) count may be split over (migration 0003): the shards a unit picks from. */
export const COUNT_SHARDS = 16;

/**
 * The PostgreSQL implementation on `q` (the pool, or a unit's transaction: see StoreMode).
 *
 * - `get` in a unit locks the row (`FOR UPDATE`): updateTicket and deleteTicket read it to decide their write, so a
 *   concurrent unit waits for this one's COMMIT and then reads the row as it left it (or finds it gone).
 * - `insert`, `update` and `remove` change the row and its count in one statement. The count moves by the row's own
 *   old and new (status, priority) as the statement found them (it locks the row first), and only when a row of that
 *   organization was changed — the same numbers SQLite's `before` gives inside a unit, and exact even against a
 *   stale `before`. An update moving a ticket between two counts bumps both in one INSERT, in (status, priority)
 *   order, so two opposite moves lock the two count rows in the same order and cannot deadlock.
 * - The bump is SQLite's upsert (`count + excluded.count`, no floor): both engines keep the same sums.
 * - Counts are sharded (migration 0003): a count is the SUM of its shards' rows (`total` sums anyway), and each
 *   bump goes to one shard, so concurrent units in one organization do not all wait for one row's lock, which each
 *   holds until its COMMIT. A store bound to a unit picks its shard once (random, 0 to COUNT_SHARDS - 1): every bump
 *   of the unit lands in that shard, in (status, priority) order as before. On the pool, each call picks anew. A
 *   shard's own row may go negative (an update takes one from its shard, not from the shard the ticket was counted
 *   in); only sums are meaningful.
 * - ticket_tags rows are written in the same statement as their ticket, from the row as that statement wrote it
 *   (its tags, status and times), so they are in step with it whatever `before` said. An insert without tags is the
 *   statement it always was.
 */
export function postgresTicketStore(q: Queryable, mode: StoreMode): TicketStore {
  const sql = q as Sql;
  const columns = sql(COLUMNS);
  // Each query below is built per call (postgres.js fragments): the hot reads use as few fragments as they can.
  const where = (orgId: string, f: TicketFilter) =>
    f.status
      ? f.priority
        ? sql`org_id = ${orgId} AND status = ${f.status} AND priority = ${f.priority}`
        : sql`org_id = ${orgId} AND status = ${f.status}`
      : f.priority
        ? sql`org_id = ${orgId} AND priority = ${f.priority}`
        : sql`org_id = ${orgId}`;
  const pick = () => Math.floor(Math.random() * COUNT_SHARDS);
  const unitShard = mode === "tx" ? pick() : -1;
  const shard = () => (unitShard >= 0 ? unitShard : pick());

  return {
    async page(orgId, f, limit, offset) {
      const rows = await sql<TicketRow[]>`SELECT ${columns} FROM tickets WHERE ${where(orgId, f)}
        ORDER BY created_at DESC, id DESC LIMIT ${limit} OFFSET ${offset}`;
      return [...rows];
    },
    async pageAfter(orgId, f, cursor, limit) {
      // Keyset: the row-value comparison on the index's trailing (created_at, id) columns is one index seek at any depth.
      const rows = await sql<TicketRow[]>`SELECT ${columns} FROM tickets WHERE ${where(orgId, f)}
        AND (created_at, id) < (${cursor.created_at}, ${cursor.id})
        ORDER BY created_at DESC, id DESC LIMIT ${limit}`;
      return [...rows];
    },
    async total(orgId, f) {
      const [row] = await sql<{ total: number }[]>`SELECT COALESCE(SUM(count), 0) AS total FROM ticket_counts WHERE ${where(orgId, f)}`;
      return row?.total ?? 0;
    },
    async get(id, orgId) {
      if (hasNul(id)) return null;
      const [row] =
        mode === "tx"
          ? await sql<TicketRow[]>`SELECT ${columns} FROM tickets WHERE id = ${id} AND org_id = ${orgId} FOR UPDATE`
          : await sql<TicketRow[]>`SELECT ${columns} FROM tickets WHERE id = ${id} AND org_id = ${orgId}`;
      return row ?? null;
    },
    async getMany(ids, orgId) {
      const wanted = ids.filter((id) => !hasNul(id));
      if (wanted.length === 0) return [];
      // In id order: the order the rows are locked in (LockRows sits above the sort).
      const rows =
        mode === "tx"
          ? await sql<TicketRow[]>`SELECT ${columns} FROM tickets WHERE org_id = ${orgId} AND id = ANY(${wanted}::text[]) ORDER BY id FOR UPDATE`
          : await sql<TicketRow[]>`SELECT ${columns} FROM tickets WHERE org_id = ${orgId} AND id = ANY(${wanted}::text[]) ORDER BY id`;
      return [...rows];
    },
    async insert(r) {
      if (r.tags === "[]") {
        await sql`WITH t AS (INSERT INTO tickets ${sql(r, COLUMNS)} RETURNING org_id, status, priority)
          INSERT INTO ticket_counts (org_id, status, priority, shard, count) SELECT org_id, status, priority, ${shard()}::bigint, 1 FROM t
          ON CONFLICT (org_id, status, priority, shard) DO UPDATE SET count = ticket_counts.count + excluded.count`;
        return;
      }
      await sql`WITH t AS (INSERT INTO tickets ${sql(r, COLUMNS)} RETURNING id, org_id, status, priority, created_at, updated_at, tags),
        tagged AS (
          INSERT INTO ticket_tags (org_id, tag, ticket_id, status, created_at, updated_at)
          SELECT t.org_id, x.tag, t.id, t.status, t.created_at, t.updated_at FROM t CROSS JOIN LATERAL jsonb_array_elements_text(t.tags::jsonb) AS x(tag)
        )
        INSERT INTO ticket_counts (org_id, status, priority, shard, count) SELECT org_id, status, priority, ${shard()}::bigint, 1 FROM t
        ON CONFLICT (org_id, status, priority, shard) DO UPDATE SET count = ticket_counts.count + excluded.count`;
    },
    async update(_before, after) {
      const [row] = await sql<{ n: number }[]>`WITH old AS (
          SELECT id, status, priority FROM tickets WHERE id = ${after.id} AND org_id = ${after.org_id} FOR UPDATE
        ), changed AS (
          UPDATE tickets t SET subject = ${after.subject}, description = ${after.description}, status = ${after.status},
            priority = ${after.priority}, requester_id = ${after.requester_id}, assignee_id = ${after.assignee_id}, tags = ${after.tags},
            custom_fields = ${after.custom_fields}, updated_at = ${after.updated_at}
          FROM old WHERE t.id = old.id
          RETURNING t.id, t.org_id, old.status AS old_status, old.priority AS old_priority, t.status, t.priority, t.created_at, t.updated_at, t.tags
        ), untagged AS (
          DELETE FROM ticket_tags tt USING changed c WHERE tt.ticket_id = c.id AND tt.org_id = c.org_id AND NOT (c.tags::jsonb ? tt.tag)
        ), tagged AS (
          INSERT INTO ticket_tags (org_id, tag, ticket_id, status, created_at, updated_at)
          SELECT c.org_id, x.tag, c.id, c.status, c.created_at, c.updated_at FROM changed c CROSS JOIN LATERAL jsonb_array_elements_text(c.tags::jsonb) AS x(tag)
          ON CONFLICT (org_id, tag, ticket_id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at
        ), moved AS (
          INSERT INTO ticket_counts (org_id, status, priority, shard, count)
          SELECT c.org_id, v.status, v.priority, ${shard()}::bigint, v.delta
          FROM changed c CROSS JOIN LATERAL (VALUES (c.old_status, c.old_priority, -1), (c.status, c.priority, 1)) AS v(status, priority, delta)
          WHERE c.old_status <> c.status OR c.old_priority <> c.priority
          ORDER BY v.status, v.priority
          ON CONFLICT (org_id, status, priority, shard) DO UPDATE SET count = ticket_counts.count + excluded.count
        )
        SELECT COUNT(*) AS n FROM changed`;
      return (row?.n ?? 0) > 0;
    },
    async touch(id, orgId, at) {
      if (hasNul(id)) return false;
      const [row] = await sql<{ n: number }[]>`WITH t AS (
          UPDATE tickets SET updated_at = GREATEST(updated_at, ${at}) WHERE id = ${id} AND org_id = ${orgId} RETURNING id, org_id, updated_at, tags
        ), tagged AS (
          UPDATE ticket_tags tt SET updated_at = t.updated_at FROM t WHERE t.tags <> '[]' AND tt.ticket_id = t.id AND tt.org_id = t.org_id
        )
        SELECT COUNT(*) AS n FROM t`;
      return (row?.n ?? 0) > 0;
    },
    async remove(r) {
      const [row] = await sql<{ n: number }[]>`WITH gone AS (
          DELETE FROM tickets WHERE id = ${r.id} AND org_id = ${r.org_id} RETURNING org_id, status, priority
        ), moved AS (
          INSERT INTO ticket_counts (org_id, status, priority, shard, count) SELECT org_id, status, priority, ${shard()}::bigint, -1 FROM gone
          ON CONFLICT (org_id, status, priority, shard) DO UPDATE SET count = ticket_counts.count + excluded.count
        )
        SELECT COUNT(*) AS n FROM gone`;
      return (row?.n ?? 0) > 0;
    },
    async tagPage(orgId, prefix, limit, offset) {
      if (hasNul(prefix)) return [];
      const rows = await sql<TagCount[]>`SELECT tag AS name, COUNT(*) AS ticket_count FROM ticket_tags
        WHERE org_id = ${orgId} AND tag >= ${prefix} AND tag < ${tagRangeEnd(prefix)}
        GROUP BY tag ORDER BY tag LIMIT ${limit} OFFSET ${offset}`;
      return [...rows];
    },
    async tagTotal(orgId, prefix) {
      if (hasNul(prefix)) return 0;
      const [row] = await sql<{ total: number }[]>`SELECT COUNT(DISTINCT tag) AS total FROM ticket_tags
        WHERE org_id = ${orgId} AND tag >= ${prefix} AND tag < ${tagRangeEnd(prefix)}`;
      return row?.total ?? 0;
    },
    async tagRows(id, orgId) {
      if (hasNul(id)) return [];
      const rows = await sql<TicketTagRow[]>`SELECT org_id, tag, ticket_id, status, created_at, updated_at FROM ticket_tags
        WHERE ticket_id = ${id} AND org_id = ${orgId} ORDER BY tag`;
      return [...rows];
    },
  };
}
