// For the commands that read a PostgreSQL database without migrating it (status, verify): connect (bounded, one line on failure), check its schema, run, end the pool.
import type { Config } from "../config";
import { redactDatabaseUrl } from "../db/postgres/client";
import { existingPostgresSchema, type ExistingPostgres } from "../ops/existing-postgres";
import { connect, openPool } from "./context";

/**
 * Runs `work` on the database of `config.databaseUrl`: a connection failure is the one-line ConfigError (exit 2) serve
 * gives, a database Client Cove never migrated or a newer build migrated is an OpsError (exit 1); nothing is migrated.
 */
export async function withExistingPostgres<T>(config: Config, work: (db: ExistingPostgres) => Promise<T>): Promise<T> {
  // Ops commands need few connections: status reads in one transaction, verify one query at a time.
  const pg = openPool({ ...config, databasePoolSize: Math.min(config.databasePoolSize, 2) });
  try {
    await connect(pg.sql, config.databaseUrl);
    const url = redactDatabaseUrl(config.databaseUrl);
    return await work({ sql: pg.sql, url, schemaVersion: await existingPostgresSchema(pg.sql, url) });
  } finally {
    await pg.sql.end({ timeout: 1 }).catch(() => {});
  }
}
