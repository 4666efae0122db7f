// Checking a PostgreSQL database an ops command reads (status, verify): migrated by Client Cove, not by a newer build; never migrated here.
import type { Sql } from "postgres";
import { POSTGRES_SCHEMA_VERSION, readPostgresSchemaVersion } from "../db/postgres/migrate";
import { OpsError } from "./errors";

/** A database an ops command reads: its pool, its URL with the password masked (for output), its schema version. */
export interface ExistingPostgres {
  sql: Sql;
  /** The URL as printed (password masked). */
  url: string;
  schemaVersion: number;
}

/**
 * The schema version of the database behind `sql`, refusing (OpsError, exit 1) one Client Cove never migrated or one
 * migrated by a newer build, as openExistingDatabase does for SQLite. Reads only: an older database is left for
 * `serve` or `migrate` to migrate, so that status and verify never change a schema other instances run on.
 */
export async function existingPostgresSchema(sql: Sql, url: string): Promise<number> {
  const version = await readPostgresSchemaVersion(sql);
  if (version === 0)
    throw new OpsError(`the database at ${url} has never been migrated by Client Cove; run \`clientcove migrate\` with its URL or start the server once`);
  if (version > POSTGRES_SCHEMA_VERSION)
    throw new OpsError(
      `the database at ${url} was written by a newer version of Client Cove (schema version ${version}; this executable knows ${POSTGRES_SCHEMA_VERSION}); use that version`,
    );
  return version;
}
