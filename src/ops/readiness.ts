// Readiness: is this process able to serve requests right now (database answers, schema current, data dir writable)?
import type { Database } from "bun:sqlite";
import { closeSync, openSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { readSchemaVersion, SCHEMA_VERSION } from "../db/migrate";

export type CheckName = "database" | "migrations" | "data_dir";

export interface Readiness {
  ready: boolean;
  /** "ok", or why the check fails. */
  checks: Record<CheckName, string>;
}

function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message ?? "error";
}

/**
 * Runs the three checks; cheap enough for a probe every few seconds (two indexed queries, one tiny file).
 * The data-dir check creates, writes and removes a probe file, because write access is what uploads
 * need and what a read-only remount, a full disk or lost permissions take away (access(2) would not
 * notice a read-only mount for root, and root ignores mode bits).
 */
export function checkReadiness(deps: { sqlite: Database; dataDir: string }): Readiness {
  const checks = { database: "ok", migrations: "ok", data_dir: "ok" } as Record<CheckName, string>;
  try {
    deps.sqlite.query("SELECT 1").get();
    const version = readSchemaVersion(deps.sqlite);
    if (version !== SCHEMA_VERSION) checks.migrations = `schema version ${version}, expected ${SCHEMA_VERSION}`;
  } catch (err) {
    checks.database = `database does not answer (${errnoOf(err)})`;
    checks.migrations = "unknown (database does not answer)";
  }
  const probe = join(deps.dataDir, `.readyz-${process.pid}`);
  try {
    const fd = openSync(probe, "w", 0o600);
    try {
      writeSync(fd, "ok");
    } finally {
      closeSync(fd);
    }
    unlinkSync(probe);
  } catch (err) {
    checks.data_dir = `data dir is not writable (${errnoOf(err)})`;
  }
  return { ready: Object.values(checks).every((c) => c === "ok"), checks };
}
