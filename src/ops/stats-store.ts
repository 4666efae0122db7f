// Counting queries over the whole database (all organizations), shared by status, verify, backup manifests and metrics: the SQLite functions, and StatsStore, their one interface over either engine.
import type { Database } from "bun:sqlite";
import { statSync } from "node:fs";
import type { files } from "../db/schema/files";
import type { RawRow } from "../db/schema/raw-row";
import { DELIVERY_STATUSES, type DeliveryStatus } from "../db/schema/webhooks";

export interface DataCounts {
  orgs: number;
  users: number;
  api_keys: number;
  tickets: number;
  folders: number;
  files: number;
  webhooks: number;
  webhook_deliveries: number;
  events: number;
}

/** Tables counted in status output and backup manifests, in display order. */
export const COUNTED_TABLES: Record<keyof DataCounts, string> = {
  orgs: "orgs",
  users: "users",
  api_keys: "api_keys",
  tickets: "tickets",
  folders: "folders",
  files: "files",
  webhooks: "webhooks",
  webhook_deliveries: "webhook_deliveries",
  events: "events",
};

/** Exact row counts. COUNT(*) is linear in rows: fine for ops commands, not for a hot path. */
export function countRows(sqlite: Database): DataCounts {
  const out = {} as DataCounts;
  for (const [name, table] of Object.entries(COUNTED_TABLES)) {
    out[name as keyof DataCounts] = (sqlite.query(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
  }
  return out;
}

/** Total bytes of all stored files, by their rows. */
export function storedBytes(sqlite: Database): number {
  return (sqlite.query("SELECT COALESCE(SUM(size_bytes), 0) AS n FROM files").get() as { n: number }).n;
}

/** Webhook deliveries currently kept, by status (every status present, zero when none). */
export function deliveriesByStatus(sqlite: Database): Record<DeliveryStatus, number> {
  const out = Object.fromEntries(DELIVERY_STATUSES.map((s) => [s, 0])) as Record<DeliveryStatus, number>;
  const rows = sqlite.query("SELECT status, COUNT(*) AS n FROM webhook_deliveries GROUP BY status").all() as { status: string; n: number }[];
  for (const r of rows) if (r.status in out) out[r.status as DeliveryStatus] = r.n;
  return out;
}

/** Bytes the database occupies on disk: the main file plus its write-ahead log. */
export function databaseBytes(dbPath: string): number {
  let total = 0;
  for (const p of [dbPath, `${dbPath}-wal`]) {
    try {
      total += statSync(p).size;
    } catch {}
  }
  return total;
}

/** What verify and backup need of a file row. */
const FILE_CHECK_COLUMNS = ["id", "org_id", "storage_key", "size_bytes", "sha256"] as const satisfies readonly (keyof RawRow<typeof files>)[];
export type FileRow = Pick<RawRow<typeof files>, (typeof FILE_CHECK_COLUMNS)[number]>;
const FILE_CHECK_SELECT = `SELECT ${FILE_CHECK_COLUMNS.join(", ")} FROM files`;

/** File rows in id order, a page at a time (keyset), so no read transaction stays open while bytes are hashed. */
export function* iterateFileRows(sqlite: Database, pageSize = 500): Generator<FileRow> {
  const page = sqlite.query(`${FILE_CHECK_SELECT} WHERE id > ? ORDER BY id LIMIT ?`);
  let after = "";
  for (;;) {
    const rows = page.all(after, pageSize) as FileRow[];
    yield* rows;
    if (rows.length < pageSize) return;
    after = rows[rows.length - 1]!.id;
  }
}

export function fileRowById(sqlite: Database, id: string): FileRow | null {
  return (sqlite.query(`${FILE_CHECK_SELECT} WHERE id = ?`).get(id) as FileRow | null) ?? null;
}

/** What /metrics reports of the data, read at scrape time. */
export interface DataGauges {
  deliveries: Record<DeliveryStatus, number>;
  undispatchedEvents: number;
  storedFiles: number;
  storedBytes: number;
  /** SQLite: the database file plus its write-ahead log. PostgreSQL: `pg_database_size(current_database())`. */
  databaseBytes: number;
}

/** One (organization, status, priority) whose kept count differs from its counted tickets. */
export interface TicketCountMismatch {
  org_id: string;
  status: string;
  priority: string;
  /** What ticket_counts says (summed over its rows). */
  kept: number;
  /** COUNT(*) of the tickets. */
  counted: number;
}

/**
 * The whole-database reads of the ops commands and the metrics, on either engine (sqliteStats here,
 * postgresStats in stats-store-postgres.ts). Every method reads committed rows only.
 */
export interface StatsStore {
  readonly engine: "sqlite" | "postgres";
  countRows(): Promise<DataCounts>;
  storedBytes(): Promise<number>;
  deliveriesByStatus(): Promise<Record<DeliveryStatus, number>>;
  /** Size of the database: see DataGauges.databaseBytes. */
  databaseBytes(): Promise<number>;
  /** The /metrics data gauges: indexed counts, one pass over the files table (as the SQLite version always did). */
  dataGauges(): Promise<DataGauges>;
  /** File rows in id order, a page at a time (keyset): no transaction stays open while bytes are hashed. */
  fileRows(pageSize?: number): AsyncIterable<FileRow>;
  fileRowById(id: string): Promise<FileRow | null>;
  /**
   * Where ticket_counts (kept in the unit of each change, read for `meta.total`) disagrees with the tickets, in one
   * snapshot (so a write meanwhile is no mismatch); at most `limit`. Linear in tickets: for verify, not a hot path.
   */
  ticketCountMismatches(limit: number): Promise<TicketCountMismatch[]>;
}

/** Compares kept counts with counted tickets (both keyed `org \t status \t priority`); a key missing on one side is 0. */
export function compareTicketCounts(kept: Map<string, number>, counted: Map<string, number>, limit: number): TicketCountMismatch[] {
  const out: TicketCountMismatch[] = [];
  for (const key of [...new Set([...kept.keys(), ...counted.keys()])].sort()) {
    const k = kept.get(key) ?? 0;
    const c = counted.get(key) ?? 0;
    if (k === c) continue;
    const [org_id, status, priority] = key.split("\t") as [string, string, string];
    out.push({ org_id, status, priority, kept: k, counted: c });
    if (out.length >= limit) break;
  }
  return out;
}

type GroupRow = { org_id: string; status: string; priority: string; n: number };

/** Rows of (org_id, status, priority, n) as a map keyed for compareTicketCounts. */
export function groupMap(rows: readonly GroupRow[]): Map<string, number> {
  return new Map(rows.map((r) => [`${r.org_id}\t${r.status}\t${r.priority}`, Number(r.n)]));
}

const KEPT_COUNTS = "SELECT org_id, status, priority, SUM(count) AS n FROM ticket_counts GROUP BY org_id, status, priority";
const COUNTED_TICKETS = "SELECT org_id, status, priority, COUNT(*) AS n FROM tickets GROUP BY org_id, status, priority";

/** The SQLite StatsStore over an open connection (the server's, or an ops command's); `dbPath` for the size on disk. */
export function sqliteStats(sqlite: Database, dbPath: string = sqlite.filename): StatsStore {
  return {
    engine: "sqlite",
    countRows: async () => countRows(sqlite),
    storedBytes: async () => storedBytes(sqlite),
    deliveriesByStatus: async () => deliveriesByStatus(sqlite),
    databaseBytes: async () => databaseBytes(dbPath),
    async dataGauges() {
      const undispatched = sqlite.query("SELECT COUNT(*) AS n FROM events WHERE dispatched_at IS NULL").get() as { n: number };
      const files = sqlite.query("SELECT COUNT(*) AS n, COALESCE(SUM(size_bytes), 0) AS bytes FROM files").get() as { n: number; bytes: number };
      return {
        deliveries: deliveriesByStatus(sqlite),
        undispatchedEvents: undispatched.n,
        storedFiles: files.n,
        storedBytes: files.bytes,
        databaseBytes: databaseBytes(dbPath),
      };
    },
    async *fileRows(pageSize) {
      yield* iterateFileRows(sqlite, pageSize);
    },
    fileRowById: async (id) => fileRowById(sqlite, id),
    async ticketCountMismatches(limit) {
      // One read transaction: both sides from the same snapshot (WAL), even while a server writes.
      return sqlite.transaction(() =>
        compareTicketCounts(groupMap(sqlite.query(KEPT_COUNTS).all() as GroupRow[]), groupMap(sqlite.query(COUNTED_TICKETS).all() as GroupRow[]), limit),
      )();
    },
  };
}
