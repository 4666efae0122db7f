// Counting queries over the whole database (all organizations), shared by status, backup manifests and metrics.
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
