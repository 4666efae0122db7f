// `status`: what an install holds, read straight from its database, SQLite in the data dir or PostgreSQL (no server needed, safe while one runs).
import { resolve } from "node:path";
import { SCHEMA_VERSION } from "../db/migrate";
import { POSTGRES_SCHEMA_VERSION } from "../db/postgres/migrate";
import type { DeliveryStatus } from "../db/schema/webhooks";
import { openExistingDatabase } from "./existing-db";
import type { ExistingPostgres } from "./existing-postgres";
import { sqliteStats, type DataCounts, type StatsStore } from "./stats-store";
import { postgresStats } from "./stats-store-postgres";

export interface StatusReport {
  engine: "sqlite" | "postgres";
  data_dir: string;
  /** SQLite: the database file. PostgreSQL: the URL, its password masked. */
  database: string;
  /** SQLite: the file plus its write-ahead log. PostgreSQL: pg_database_size(current_database()). */
  database_bytes: number;
  schema_version: number;
  /** The schema version this executable writes (per engine); higher than schema_version means a migration at next start. */
  executable_schema_version: number;
  counts: DataCounts;
  stored_bytes: number;
  deliveries: Record<DeliveryStatus, number>;
}

async function readWith(
  stats: StatsStore,
  head: Pick<StatusReport, "engine" | "data_dir" | "database" | "schema_version" | "executable_schema_version">,
): Promise<StatusReport> {
  const [database_bytes, counts, stored_bytes, deliveries] = [
    await stats.databaseBytes(),
    await stats.countRows(),
    await stats.storedBytes(),
    await stats.deliveriesByStatus(),
  ];
  return { ...head, database_bytes, counts, stored_bytes, deliveries };
}

/** The status of a data dir's SQLite database, read in one transaction (one consistent picture). */
export async function readStatus(dataDir: string): Promise<StatusReport> {
  const dir = resolve(dataDir);
  const db = openExistingDatabase(dir, { readOnly: true });
  try {
    // The SQLite stats answer synchronously inside their promises, so the whole read stays inside BEGIN … COMMIT.
    db.sqlite.exec("BEGIN");
    try {
      return await readWith(sqliteStats(db.sqlite, db.path), {
        engine: "sqlite",
        data_dir: dir,
        database: db.path,
        schema_version: db.schemaVersion,
        executable_schema_version: SCHEMA_VERSION,
      });
    } finally {
      db.sqlite.exec("COMMIT");
    }
  } finally {
    db.close();
  }
}

/** The status of a PostgreSQL database, read in one REPEATABLE READ READ ONLY transaction (one consistent picture). */
export async function readPostgresStatus(db: ExistingPostgres & { dataDir: string }): Promise<StatusReport> {
  return (await db.sql.begin("ISOLATION LEVEL REPEATABLE READ READ ONLY", (tx) =>
    readWith(postgresStats(tx), {
      engine: "postgres",
      data_dir: resolve(db.dataDir),
      database: db.url,
      schema_version: db.schemaVersion,
      executable_schema_version: POSTGRES_SCHEMA_VERSION,
    }),
  )) as StatusReport;
}
