// `status`: what a data dir holds, read straight from the database (no server needed, safe while one runs).
import { resolve } from "node:path";
import { SCHEMA_VERSION } from "../db/migrate";
import { openExistingDatabase } from "./existing-db";
import type { DeliveryStatus } from "../db/schema/webhooks";
import { countRows, databaseBytes, deliveriesByStatus, storedBytes, type DataCounts } from "./stats-store";

export interface StatusReport {
  data_dir: string;
  database: string;
  database_bytes: number;
  schema_version: number;
  /** The schema version this executable writes; higher than schema_version means a migration at next start. */
  executable_schema_version: number;
  counts: DataCounts;
  stored_bytes: number;
  deliveries: Record<DeliveryStatus, number>;
}

export function readStatus(dataDir: string): StatusReport {
  const dir = resolve(dataDir);
  const db = openExistingDatabase(dir, { readOnly: true });
  try {
    return db.sqlite.transaction(() => ({
      data_dir: dir,
      database: db.path,
      database_bytes: databaseBytes(db.path),
      schema_version: db.schemaVersion,
      executable_schema_version: SCHEMA_VERSION,
      counts: countRows(db.sqlite),
      stored_bytes: storedBytes(db.sqlite),
      deliveries: deliveriesByStatus(db.sqlite),
    }))();
  } finally {
    db.close();
  }
}
