// Applies the embedded migrations forward and refuses databases written by a newer version.
import type { Database } from "bun:sqlite";
import type { EmbeddedMigration } from "./migrations.macro";
import { loadMigrations } from "./migrations.macro" with { type: "macro" };

const MIGRATIONS: EmbeddedMigration[] = loadMigrations();
const TABLE = "__drizzle_migrations";

/** Thrown when the database is newer than this executable or otherwise not ours to migrate. */
export class SchemaError extends Error {
  override name = "SchemaError";
}

export interface MigrationResult {
  applied: string[];
  schemaVersion: number;
}

/** The schema version this executable writes: the number of migrations it carries. */
export const SCHEMA_VERSION = MIGRATIONS.length;

function appliedRows(sqlite: Database): { hash: string; created_at: number }[] {
  const exists = sqlite.query(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '${TABLE}'`).get();
  if (!exists) return [];
  return sqlite.query(`SELECT hash, created_at FROM ${TABLE} ORDER BY created_at`).all() as { hash: string; created_at: number }[];
}

/** The schema version recorded in a database (0 when empty). */
export function readSchemaVersion(sqlite: Database): number {
  return appliedRows(sqlite).length;
}

/**
 * Brings the database up to this executable's schema in one transaction. Uses drizzle's own
 * bookkeeping table, so drizzle-kit tooling agrees on what has been applied.
 */
export function migrate(sqlite: Database): MigrationResult {
  const applied = appliedRows(sqlite);
  const known = new Map(MIGRATIONS.map((m) => [m.when, m]));
  const latestKnown = MIGRATIONS.at(-1)?.when ?? 0;
  for (const row of applied) {
    if (Number(row.created_at) > latestKnown) {
      throw new SchemaError(
        `This database was written by a newer version of Client Cove (schema version ${applied.length}; this executable knows ${MIGRATIONS.length}). Upgrade the executable; the database was not changed.`,
      );
    }
    if (!known.has(Number(row.created_at))) {
      // Not newer, just foreign (e.g. written by a development build whose migrations were regenerated).
      throw new SchemaError(
        `This database has a migration this executable does not know (recorded at ${Number(row.created_at)}); it was written by a different build of Client Cove. The database was not changed.`,
      );
    }
  }
  const lastApplied = applied.length ? Number(applied.at(-1)!.created_at) : 0;
  const pending = MIGRATIONS.filter((m) => m.when > lastApplied);
  if (pending.length === 0) return { applied: [], schemaVersion: applied.length };
  sqlite.exec("BEGIN IMMEDIATE");
  try {
    sqlite.exec(`CREATE TABLE IF NOT EXISTS ${TABLE} (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at numeric)`);
    const record = sqlite.prepare(`INSERT INTO ${TABLE} (hash, created_at) VALUES (?, ?)`);
    for (const m of pending) {
      for (const stmt of m.statements) sqlite.exec(stmt);
      record.run(m.hash, m.when);
    }
    sqlite.exec("COMMIT");
  } catch (err) {
    sqlite.exec("ROLLBACK");
    throw err;
  }
  return { applied: pending.map((m) => m.tag), schemaVersion: applied.length + pending.length };
}
