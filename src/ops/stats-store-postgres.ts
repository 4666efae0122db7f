// The PostgreSQL StatsStore: the same whole-database counts as stats-store.ts over a pool or a transaction, and the catalog checks verify runs on PostgreSQL.
import type { Sql, TransactionSql } from "postgres";
import { DELIVERY_STATUSES, type DeliveryStatus } from "../db/schema/webhooks";
import { COUNTED_TABLES, compareTicketCounts, groupMap, type DataCounts, type FileRow, type StatsStore } from "./stats-store";

type Queryable = Sql | TransactionSql;

const FILE_COLUMNS = "id, org_id, storage_key, size_bytes, sha256";

/** Number() of what may come back as a string (a bigint the type parsers did not map, e.g. from a catalog function). */
const num = (v: unknown): number => Number(v ?? 0);

async function deliveriesByStatus(sql: Queryable): Promise<Record<DeliveryStatus, number>> {
  const out = Object.fromEntries(DELIVERY_STATUSES.map((s) => [s, 0])) as Record<DeliveryStatus, number>;
  const rows = await sql.unsafe("SELECT status, COUNT(*) AS n FROM webhook_deliveries GROUP BY status");
  for (const r of rows) if (String(r.status) in out) out[r.status as DeliveryStatus] = num(r.n);
  return out;
}

/**
 * The PostgreSQL StatsStore over a pool or a transaction (status reads in one REPEATABLE READ transaction, for a
 * consistent picture). The database size is `pg_database_size(current_database())`: every file of the database on
 * the server's disk (tables, indexes, TOAST, free space inside them), not the WAL, nor other databases of the server.
 */
export function postgresStats(sql: Queryable): StatsStore {
  const inSnapshot = <T>(work: (tx: TransactionSql) => Promise<T>): Promise<T> =>
    "savepoint" in sql ? work(sql) : ((sql as Sql).begin("ISOLATION LEVEL REPEATABLE READ READ ONLY", work) as Promise<T>);
  return {
    engine: "postgres",
    async countRows(): Promise<DataCounts> {
      const parts = Object.entries(COUNTED_TABLES).map(([name, table]) => `(SELECT COUNT(*) FROM ${table}) AS ${name}`);
      const [row] = await sql.unsafe(`SELECT ${parts.join(", ")}`);
      return Object.fromEntries(Object.keys(COUNTED_TABLES).map((name) => [name, num(row?.[name])])) as unknown as DataCounts;
    },
    async storedBytes() {
      const [row] = await sql.unsafe("SELECT COALESCE(SUM(size_bytes), 0) AS n FROM files");
      return num(row?.n);
    },
    deliveriesByStatus: () => deliveriesByStatus(sql),
    async databaseBytes() {
      const [row] = await sql.unsafe("SELECT pg_database_size(current_database()) AS n");
      return num(row?.n);
    },
    async dataGauges() {
      // Two round trips: the delivery counts, and everything else in one row.
      const [deliveries, [row]] = await Promise.all([
        deliveriesByStatus(sql),
        sql.unsafe(
          `SELECT (SELECT COUNT(*) FROM events WHERE dispatched_at IS NULL) AS undispatched,
                  (SELECT COUNT(*) FROM files) AS files,
                  (SELECT COALESCE(SUM(size_bytes), 0) FROM files) AS bytes,
                  pg_database_size(current_database()) AS db_bytes`,
        ),
      ]);
      return {
        deliveries,
        undispatchedEvents: num(row?.undispatched),
        storedFiles: num(row?.files),
        storedBytes: num(row?.bytes),
        databaseBytes: num(row?.db_bytes),
      };
    },
    async *fileRows(pageSize = 500) {
      let after = "";
      for (;;) {
        const rows = (await sql.unsafe(`SELECT ${FILE_COLUMNS} FROM files WHERE id > $1 ORDER BY id LIMIT $2`, [after, pageSize])) as unknown as FileRow[];
        yield* rows;
        if (rows.length < pageSize) return;
        after = rows[rows.length - 1]!.id;
      }
    },
    async fileRowById(id) {
      const [row] = (await sql.unsafe(`SELECT ${FILE_COLUMNS} FROM files WHERE id = $1`, [id])) as unknown as FileRow[];
      return row ?? null;
    },
    ticketCountMismatches: (limit) =>
      inSnapshot(async (tx) => {
        // SUM over rows per (org, status, priority): right also if a counter is ever split into several rows.
        const kept = await tx.unsafe("SELECT org_id, status, priority, SUM(count) AS n FROM ticket_counts GROUP BY org_id, status, priority");
        const counted = await tx.unsafe("SELECT org_id, status, priority, COUNT(*) AS n FROM tickets GROUP BY org_id, status, priority");
        return compareTicketCounts(groupMap(kept as never), groupMap(counted as never), limit);
      }),
  };
}

/** A foreign key whose rows were found pointing at no parent (possible when triggers were bypassed, e.g. session_replication_role = replica). */
export interface ForeignKeyViolation {
  table: string;
  parent: string;
  constraint: string;
  /** The child rows' primary keys (at most the limit asked for), as text. */
  rows: string[];
  /** How many rows violate it in all. */
  count: number;
}

/**
 * PostgreSQL enforces foreign keys itself, but not for rows written while its triggers were bypassed or a constraint
 * added NOT VALID: each foreign key of the current schema is checked with an anti-join (a scan of the child table),
 * as SQLite's `PRAGMA foreign_key_check` does.
 */
export async function foreignKeyViolations(sql: Queryable, limit: number): Promise<ForeignKeyViolation[]> {
  const fks = await sql.unsafe(
    `SELECT c.conname AS name, c.conrelid::regclass::text AS child, c.confrelid::regclass::text AS parent,
            (SELECT array_agg(quote_ident(a.attname) ORDER BY k.i) FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
               JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n) AS child_cols,
            (SELECT array_agg(quote_ident(a.attname) ORDER BY k.i) FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
               JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n) AS parent_cols,
            (SELECT array_agg(quote_ident(a.attname) ORDER BY a.attnum) FROM pg_index x
               JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = ANY (x.indkey)
              WHERE x.indrelid = c.conrelid AND x.indisprimary) AS child_pk
       FROM pg_constraint c
      WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace
      ORDER BY child, name`,
  );
  const out: ForeignKeyViolation[] = [];
  for (const fk of fks) {
    const childCols = fk.child_cols as string[];
    const parentCols = fk.parent_cols as string[];
    const pk = (fk.child_pk as string[] | null) ?? childCols;
    const match = childCols.map((col, i) => `p.${parentCols[i]} = c.${col}`).join(" AND ");
    const present = childCols.map((col) => `c.${col} IS NOT NULL`).join(" AND ");
    const label = pk.length === 1 ? `c.${pk[0]}::text` : `concat_ws(', ', ${pk.map((col) => `c.${col}`).join(", ")})`;
    const rows = await sql.unsafe(
      `SELECT ${label} AS row_key, COUNT(*) OVER () AS total FROM ${fk.child} c
        WHERE ${present} AND NOT EXISTS (SELECT 1 FROM ${fk.parent} p WHERE ${match}) ORDER BY 1 LIMIT ${Number(limit)}`,
    );
    if (rows.length)
      out.push({
        table: String(fk.child),
        parent: String(fk.parent),
        constraint: String(fk.name),
        rows: rows.map((r) => String(r.row_key)),
        count: num(rows[0]!.total),
      });
  }
  return out;
}

/** Constraints added NOT VALID and indexes left invalid (a failed CREATE INDEX CONCURRENTLY) in the current schema. */
export async function catalogProblems(sql: Queryable): Promise<string[]> {
  const constraints = await sql.unsafe(
    `SELECT conrelid::regclass::text AS rel, conname AS name FROM pg_constraint
      WHERE NOT convalidated AND connamespace = current_schema()::regnamespace ORDER BY 1, 2`,
  );
  const indexes = await sql.unsafe(
    `SELECT x.indexrelid::regclass::text AS name, x.indrelid::regclass::text AS rel FROM pg_index x
       JOIN pg_class i ON i.oid = x.indexrelid
      WHERE NOT x.indisvalid AND i.relnamespace = current_schema()::regnamespace ORDER BY 1`,
  );
  return [
    ...constraints.map((c) => `constraint ${c.name} of ${c.rel} is not validated (NOT VALID): existing rows were never checked`),
    ...indexes.map((i) => `index ${i.name} of ${i.rel} is invalid (an interrupted CREATE INDEX?): queries do not use it and it may lack rows`),
  ];
}
