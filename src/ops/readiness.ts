// Readiness: is this process able to serve requests right now (database answers, schema current, data dir writable, storage answers)?
import type { Database } from "bun:sqlite";
import { closeSync, openSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Sql } from "postgres";
import { readSchemaVersion, SCHEMA_VERSION } from "../db/migrate";
import { checkPostgres } from "../db/postgres/client";
import { POSTGRES_SCHEMA_VERSION, readPostgresSchemaVersion } from "../db/postgres/migrate";

export type CheckName = "database" | "migrations" | "data_dir" | "storage";

export interface Readiness {
  ready: boolean;
  /** "ok", or why the check fails. `storage` only when the storage can be asked (S3). */
  checks: Record<Exclude<CheckName, "storage">, string> & { storage?: string };
}

/** The database to ask, whichever engine it is. */
export type ReadinessDatabase = { kind: "sqlite"; sqlite: Database } | { kind: "postgres"; sql: Sql };

/** Storage that can say whether it answers (the S3 driver's `check`); the filesystem driver has none. */
interface CheckableStorage {
  check(timeoutMs?: number): Promise<boolean>;
}

/** How long /readyz waits for PostgreSQL or the bucket before calling it down: a probe must answer quickly. */
export const READINESS_TIMEOUT_MS = 2000;

function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message ?? "error";
}

/**
 * The data-dir check creates, writes and removes a probe file, because write access is what uploads need and what a
 * read-only remount, a full disk or lost permissions take away (access(2) would not notice a read-only mount for root,
 * and root ignores mode bits).
 */
function checkDataDir(dataDir: string): string {
  const probe = join(dataDir, `.readyz-${process.pid}`);
  try {
    const fd = openSync(probe, "w", 0o600);
    try {
      writeSync(fd, "ok");
    } finally {
      closeSync(fd);
    }
    unlinkSync(probe);
    return "ok";
  } catch (err) {
    return `data dir is not writable (${errnoOf(err)})`;
  }
}

function sqliteChecks(sqlite: Database): { database: string; migrations: string } {
  try {
    sqlite.query("SELECT 1").get();
    const version = readSchemaVersion(sqlite);
    return { database: "ok", migrations: version === SCHEMA_VERSION ? "ok" : `schema version ${version}, expected ${SCHEMA_VERSION}` };
  } catch (err) {
    return { database: `database does not answer (${errnoOf(err)})`, migrations: "unknown (database does not answer)" };
  }
}

async function postgresChecks(sql: Sql): Promise<{ database: string; migrations: string }> {
  const down = {
    database: `database does not answer (PostgreSQL: no answer to SELECT 1 within ${READINESS_TIMEOUT_MS / 1000} s)`,
    migrations: "unknown (database does not answer)",
  };
  if (!(await checkPostgres(sql, READINESS_TIMEOUT_MS))) return down;
  try {
    const version = await readPostgresSchemaVersion(sql);
    return { database: "ok", migrations: version === POSTGRES_SCHEMA_VERSION ? "ok" : `schema version ${version}, expected ${POSTGRES_SCHEMA_VERSION}` };
  } catch {
    return down;
  }
}

/** Runs the three checks on SQLite, synchronously; cheap enough for a probe every few seconds (two indexed queries, one tiny file). */
export function checkReadiness(deps: { sqlite: Database; dataDir: string }): Readiness {
  const checks = { ...sqliteChecks(deps.sqlite), data_dir: checkDataDir(deps.dataDir) };
  return { ready: Object.values(checks).every((c) => c === "ok"), checks };
}

/**
 * Every check for either engine: the database (SQLite: a query; PostgreSQL: `SELECT 1` within 2 s on the pool, which
 * reconnects by itself), its schema version, the data dir, and the storage when it can be asked (S3: one listing,
 * within 2 s). Never throws: a failing dependency is a check that is not "ok".
 */
export async function checkAllReadiness(deps: { database: ReadinessDatabase; dataDir: string; storage?: object }): Promise<Readiness> {
  const storage = deps.storage as Partial<CheckableStorage> | undefined;
  const canCheckStorage = typeof storage?.check === "function";
  const [db, storageOk] = await Promise.all([
    deps.database.kind === "sqlite" ? sqliteChecks(deps.database.sqlite) : postgresChecks(deps.database.sql),
    canCheckStorage ? storage.check!(READINESS_TIMEOUT_MS).catch(() => false) : true,
  ]);
  const checks: Readiness["checks"] = { ...db, data_dir: checkDataDir(deps.dataDir) };
  if (canCheckStorage) checks.storage = storageOk ? "ok" : `storage does not answer (no answer within ${READINESS_TIMEOUT_MS / 1000} s)`;
  return { ready: Object.values(checks).every((c) => c === "ok"), checks };
}
