// Applies the embedded PostgreSQL migrations forward, exactly once however many instances start together, and refuses databases written by a newer build.
import type { Sql, TransactionSql } from "postgres";
import { type MigrationResult, SchemaError } from "../migrate";
import type { EmbeddedPostgresMigration } from "./migrations.macro";
import { loadPostgresMigrations } from "./migrations.macro" with { type: "macro" };

const MIGRATIONS: EmbeddedPostgresMigration[] = loadPostgresMigrations();

/** Where applied migrations are recorded (in the schema the tables are created in: the first of the search_path). */
export const MIGRATIONS_TABLE = "clientcove_migrations";

/**
 * The advisory lock every migration transaction takes first (`pg_advisory_xact_lock`, released at COMMIT/ROLLBACK).
 * Advisory locks are per database: instances on other databases of the same server do not wait for each other.
 */
export const MIGRATION_LOCK_KEY = "4846520378591064641"; // "CC_MIGRA" as a 64-bit integer
/** The advisory lock around the first start's bootstrap (serve) and a copy into an empty database (migrate-data): "CC_MIGRB". */
export const BOOTSTRAP_LOCK_KEY = "4846520378591064642";

/** The schema version this executable writes on PostgreSQL: the number of migrations it carries. */
export const POSTGRES_SCHEMA_VERSION = MIGRATIONS.length;

interface Recorded {
  version: number;
  tag: string;
  hash: string;
}

async function recorded(tx: Sql | TransactionSql): Promise<Recorded[] | null> {
  const [t] = await tx`SELECT to_regclass(${MIGRATIONS_TABLE}) IS NOT NULL AS present`;
  if (!t?.present) return null;
  return (await tx.unsafe(`SELECT version, tag, hash FROM ${MIGRATIONS_TABLE} ORDER BY version`)) as unknown as Recorded[];
}

/** The schema version recorded in a database (0 when it has never been migrated). */
export async function readPostgresSchemaVersion(sql: Sql): Promise<number> {
  return (await recorded(sql))?.length ?? 0;
}

/** Throws SchemaError when a recorded migration is newer than, or different from, what this executable carries. */
function checkRecorded(rows: Recorded[]): void {
  const latestKnown = MIGRATIONS.length - 1;
  for (const row of rows) {
    if (row.version > latestKnown) {
      throw new SchemaError(
        `This database was written by a newer version of Client Cove (schema version ${rows.length}; this executable knows ${MIGRATIONS.length}). Upgrade the executable; the database was not changed.`,
      );
    }
    const known = MIGRATIONS[row.version]!;
    if (known.tag !== row.tag || known.hash !== row.hash) {
      throw new SchemaError(
        `This database has a migration this executable does not know (${row.tag}, recorded as version ${row.version}); it was written by a different build of Client Cove. The database was not changed.`,
      );
    }
  }
  const gap = rows.findIndex((row, i) => row.version !== i);
  if (gap !== -1) {
    throw new SchemaError(`This database's migration record skips version ${gap}; it was not written by Client Cove. The database was not changed.`);
  }
}

/** The tables of the current schema, when there is no migration record: a database used by something else is refused. */
async function foreignTables(tx: TransactionSql): Promise<string[]> {
  const rows = await tx`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name`;
  return rows.map((r) => String(r.table_name));
}

/** One transaction: lock, check, apply the next pending migration. Returns its tag, or null when none was pending. */
async function step(sql: Sql): Promise<{ applied: string | null; version: number }> {
  return sql.begin(async (tx) => {
    // Waiting for another instance's migration is not a slow statement; nor is a long CREATE INDEX.
    await tx`SET LOCAL statement_timeout = 0`;
    await tx`SET LOCAL lock_timeout = 0`;
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY}::bigint)`;
    let rows = await recorded(tx);
    if (rows === null) {
      const tables = await foreignTables(tx);
      if (tables.length) {
        throw new SchemaError(
          `This database already has tables that Client Cove did not create (${tables.slice(0, 5).join(", ")}${tables.length > 5 ? ", …" : ""}); give it an empty database. The database was not changed.`,
        );
      }
      await tx.unsafe(`CREATE TABLE ${MIGRATIONS_TABLE} (version integer PRIMARY KEY, tag text NOT NULL, hash text NOT NULL, applied_at bigint NOT NULL)`);
      rows = [];
    }
    checkRecorded(rows);
    const next = MIGRATIONS[rows.length];
    if (!next) return { applied: null, version: rows.length };
    await tx.unsafe(next.sql).simple();
    await tx.unsafe(`INSERT INTO ${MIGRATIONS_TABLE} (version, tag, hash, applied_at) VALUES ($1, $2, $3, $4)`, [
      next.version,
      next.tag,
      next.hash,
      Date.now(),
    ]);
    return { applied: next.tag, version: rows.length + 1 };
  });
}

/** A PostgreSQL error as a SchemaError when it is the admin's to fix (no permission, wrong encoding); else unchanged. */
function explain(err: unknown): unknown {
  const e = err as { code?: string; message?: string };
  if (e.code === "42501") {
    return new SchemaError(
      `The database user may not create tables here (${e.message}): make it the database's owner, or GRANT CREATE ON SCHEMA public to it (PostgreSQL 15 and later no longer grant that to everyone). The database was not changed.`,
    );
  }
  return err;
}

/**
 * Brings the database up to this executable's schema: each pending migration in a transaction of its own, under an
 * advisory lock, so instances starting at once apply each exactly once (the others wait, then find nothing to do).
 * Refuses (SchemaError, nothing changed) a database migrated by a newer or different build, a database that is not
 * UTF8 (PostgreSQL would store text SQLite reads back differently), and a non-empty database it never migrated.
 * A migration file must not use what cannot run in a transaction (CREATE INDEX CONCURRENTLY, VACUUM).
 */
export async function migratePostgres(sql: Sql): Promise<MigrationResult> {
  const [enc] = await sql`SELECT current_setting('server_encoding') AS encoding`;
  if (enc?.encoding !== "UTF8") {
    throw new SchemaError(
      `This PostgreSQL database's encoding is ${enc?.encoding}; Client Cove needs UTF8 (CREATE DATABASE … ENCODING 'UTF8' TEMPLATE template0). The database was not changed.`,
    );
  }
  const applied: string[] = [];
  for (;;) {
    let result: { applied: string | null; version: number };
    try {
      result = await step(sql);
    } catch (err) {
      throw explain(err);
    }
    if (result.applied === null) return { applied, schemaVersion: result.version };
    applied.push(result.applied);
  }
}
