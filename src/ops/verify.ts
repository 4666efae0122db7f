// `verify`: the database's integrity, every file row's bytes (present, right size, right sha256), orphaned bytes and unfinished uploads, on SQLite or PostgreSQL, on disk or in a bucket; `--repair` removes the old leftovers.
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { SCHEMA_VERSION } from "../db/migrate";
import { POSTGRES_SCHEMA_VERSION } from "../db/postgres/migrate";
import { STALE_UPLOAD_MS } from "../files/recovery";
import { systemClock, type Clock } from "../lib/clock";
import { openStorage, type Storage } from "../storage";
import { isValidStorageKey } from "../storage/layout";
import { openExistingDatabase } from "./existing-db";
import type { ExistingPostgres } from "./existing-postgres";
import { sqliteStats, type StatsStore } from "./stats-store";
import { catalogProblems, foreignKeyViolations, postgresStats } from "./stats-store-postgres";

export type ProblemKind = "database" | "missing" | "size_mismatch" | "sha256_mismatch" | "unsafe_storage_key";

export interface VerifyProblem {
  kind: ProblemKind;
  file_id?: string;
  org_id?: string;
  path?: string;
  message: string;
}

/**
 * What `--repair` leaves alone: an orphan or an unfinished multipart upload younger than this may be an upload in
 * progress (its row not committed yet), here or on another instance sharing the bucket. The start-up sweep's age.
 */
export const REPAIR_MIN_AGE_MS = STALE_UPLOAD_MS;

export interface RepairReport {
  /** Orphans deleted (older than REPAIR_MIN_AGE_MS, still without a row just before the delete). */
  removed_orphans: number;
  /** Unfinished multipart uploads aborted (begun over REPAIR_MIN_AGE_MS ago). */
  aborted_uploads: number;
  /** Orphans and unfinished uploads left because they are younger: uploads possibly still in progress. */
  kept_young: number;
  /** Orphans left because their path is not a storage key (a stray file under files/): remove those by hand. */
  kept_not_a_key: number;
  min_age_hours: number;
}

export interface VerifyReport {
  ok: boolean;
  engine: "sqlite" | "postgres";
  data_dir: string;
  /** SQLite: the database file. PostgreSQL: the URL, its password masked. */
  database: string;
  /** Where the bytes are: the data dir's files/ directory, or `s3://bucket/prefix`. */
  storage: string;
  schema_version: number;
  /** True when `serve` will migrate this database forward at its next start. */
  migration_pending: boolean;
  files_checked: number;
  bytes_checked: number;
  /** Whether sha256 was computed (false with --quick: presence and size only). */
  hashed: boolean;
  problems: VerifyProblem[];
  /** Stored bytes (under files/, or in the bucket's prefix) that no file row references: wasted space, not data loss. */
  orphans: { path: string; size: number }[];
  /** Multipart uploads begun and never completed nor aborted (S3 only; always empty on disk): a crash's parts, or uploads in progress. */
  unfinished_uploads: { path: string; initiated_at: string }[];
  /** With --repair: what was removed and what was left. */
  repair?: RepairReport;
}

export interface VerifyOptions {
  /** Presence and size only, no sha256. */
  quick?: boolean;
  /** Remove orphans and abort unfinished uploads older than REPAIR_MIN_AGE_MS. */
  repair?: boolean;
  /** Where the bytes are (default: the data dir's files/). */
  storage?: Storage;
  /** For the ages --repair compares (default: the system clock). */
  clock?: Clock;
}

/** The database side of a check, whichever engine. */
interface Checked {
  engine: VerifyReport["engine"];
  database: string;
  schemaVersion: number;
  executableSchemaVersion: number;
  stats: StatsStore;
  /** Integrity problems of the engine itself (SQLite: integrity_check, foreign_key_check; PostgreSQL: catalog and foreign-key checks). */
  engineProblems(): Promise<VerifyProblem[]>;
}

const MAX_DATABASE_LINES = 20;

/** The sha256 of an object's bytes, or null when it is gone (deleted since it was listed). */
async function sha256Object(storage: Storage, key: string): Promise<string | null> {
  const read = await storage.read(key);
  if (!read) return null;
  const hash = createHash("sha256");
  for await (const chunk of read.body) hash.update(chunk);
  return hash.digest("hex");
}

/** Kept ticket counts against counted tickets: a `meta.total` that would be wrong. Invariant of both engines, enforced by neither. */
async function ticketCountProblems(stats: StatsStore): Promise<VerifyProblem[]> {
  const mismatches = await stats.ticketCountMismatches(MAX_DATABASE_LINES);
  return mismatches.map((m) => ({
    kind: "database",
    message: `ticket counts: org ${m.org_id}, ${m.status}/${m.priority} is kept as ${m.kept}, ${m.counted} ticket(s) counted`,
  }));
}

function sqliteProblems(sqlite: import("bun:sqlite").Database): VerifyProblem[] {
  const problems: VerifyProblem[] = [];
  const integrity = (sqlite.query("PRAGMA integrity_check").all() as { integrity_check: string }[]).map((r) => r.integrity_check);
  if (integrity.length !== 1 || integrity[0] !== "ok") {
    for (const line of integrity.slice(0, MAX_DATABASE_LINES)) problems.push({ kind: "database", message: `integrity check: ${line}` });
  }
  const fkRows = sqlite.query("PRAGMA foreign_key_check").all() as { table: string; rowid: number; parent: string }[];
  for (const r of fkRows.slice(0, MAX_DATABASE_LINES))
    problems.push({ kind: "database", message: `foreign key: row ${r.rowid} of ${r.table} points to a missing ${r.parent}` });
  if (fkRows.length > MAX_DATABASE_LINES) problems.push({ kind: "database", message: `foreign key: ${fkRows.length - MAX_DATABASE_LINES} more violations` });
  return problems;
}

async function postgresProblems(sql: ExistingPostgres["sql"]): Promise<VerifyProblem[]> {
  const problems: VerifyProblem[] = (await catalogProblems(sql)).map((message) => ({ kind: "database", message }));
  for (const v of await foreignKeyViolations(sql, MAX_DATABASE_LINES)) {
    for (const row of v.rows) problems.push({ kind: "database", message: `foreign key: row ${row} of ${v.table} points to a missing ${v.parent}` });
    if (v.count > v.rows.length)
      problems.push({ kind: "database", message: `foreign key: ${v.count - v.rows.length} more rows of ${v.table} point to a missing ${v.parent}` });
  }
  return problems;
}

/**
 * Checks the database and the stored bytes of every file row; safe while servers run (reads, short queries; --repair
 * deletes only what is old enough not to be an upload in progress). A file that disappears while being checked is
 * only a problem if its row still exists afterwards (a concurrent delete is not).
 */
async function verifyWith(db: Checked, dataDir: string, storage: Storage, opts: VerifyOptions): Promise<VerifyReport> {
  const { stats } = db;
  const problems = [...(await db.engineProblems()), ...(await ticketCountProblems(stats))];
  let filesChecked = 0;
  let bytesChecked = 0;
  for await (const row of stats.fileRows()) {
    const ids = { file_id: row.id, org_id: row.org_id };
    if (!isValidStorageKey(row.storage_key)) {
      problems.push({ kind: "unsafe_storage_key", ...ids, message: `storage key ${JSON.stringify(row.storage_key)} is not <org_id>/<file_id>` });
      continue;
    }
    const rel = storage.locate(row.storage_key);
    const missing = async () => {
      if (await stats.fileRowById(row.id))
        problems.push({ kind: "missing", ...ids, path: rel, message: `bytes missing (expected ${row.size_bytes} bytes at ${rel})` });
    };
    filesChecked++;
    const stat = await storage.stat(row.storage_key);
    if (!stat) {
      await missing();
      continue;
    }
    if (stat.size !== row.size_bytes) {
      problems.push({ kind: "size_mismatch", ...ids, path: rel, message: `${stat.size} bytes stored, ${row.size_bytes} expected` });
      continue;
    }
    bytesChecked += stat.size;
    if (opts.quick) continue;
    const digest = await sha256Object(storage, row.storage_key);
    if (digest === null) {
      await missing();
      continue;
    }
    if (digest !== row.sha256)
      problems.push({
        kind: "sha256_mismatch",
        ...ids,
        path: rel,
        message: `sha256 of the stored bytes ${digest} differs from the row's ${row.sha256} (corrupt bytes)`,
      });
  }

  // Orphans: looked up after the rows, one indexed lookup each (the file id is the key's last segment).
  const orphans: { key: string; size: number; modifiedAt: number }[] = [];
  if (storage.list) {
    for await (const object of storage.list()) {
      const row = await stats.fileRowById(object.key.split("/").at(-1)!);
      if (row && row.storage_key === object.key) continue;
      orphans.push(object);
    }
  }
  const pending = (await storage.pendingUploads?.()) ?? [];

  let repair: RepairReport | undefined;
  if (opts.repair) {
    const before = (opts.clock ?? systemClock).now() - REPAIR_MIN_AGE_MS;
    repair = { removed_orphans: 0, aborted_uploads: 0, kept_young: 0, kept_not_a_key: 0, min_age_hours: REPAIR_MIN_AGE_MS / 3_600_000 };
    for (const o of orphans) {
      if (!isValidStorageKey(o.key)) repair.kept_not_a_key++;
      else if (!(o.modifiedAt < before)) repair.kept_young++;
      // Looked up once more just before: a row committed since the listing keeps its bytes.
      else if (!(await stats.fileRowById(o.key.split("/").at(-1)!))) {
        await storage.delete(o.key);
        repair.removed_orphans++;
      }
    }
    if (storage.abortUploadsBefore) repair.aborted_uploads = await storage.abortUploadsBefore(before);
    repair.kept_young += pending.filter((u) => !(u.initiatedAt < before)).length;
  }

  return {
    ok: problems.length === 0,
    engine: db.engine,
    data_dir: dataDir,
    database: db.database,
    storage: storage.description,
    schema_version: db.schemaVersion,
    migration_pending: db.schemaVersion < db.executableSchemaVersion,
    files_checked: filesChecked,
    bytes_checked: bytesChecked,
    hashed: !opts.quick,
    problems,
    orphans: orphans.map((o) => ({ path: storage.locate(o.key), size: o.size })),
    unfinished_uploads: pending.map((u) => ({ path: storage.locate(u.key), initiated_at: new Date(u.initiatedAt).toISOString() })),
    ...(repair ? { repair } : {}),
  };
}

/** Verifies a data dir's SQLite database and the bytes of its file rows (files/ in the data dir, or `opts.storage`). */
export async function verifyDataDir(opts: VerifyOptions & { dataDir: string }): Promise<VerifyReport> {
  const dataDir = resolve(opts.dataDir);
  const storage = opts.storage ?? openStorage({ dataDir });
  const db = openExistingDatabase(dataDir, { readOnly: true });
  try {
    const checked: Checked = {
      engine: "sqlite",
      database: db.path,
      schemaVersion: db.schemaVersion,
      executableSchemaVersion: SCHEMA_VERSION,
      stats: sqliteStats(db.sqlite, db.path),
      engineProblems: async () => sqliteProblems(db.sqlite),
    };
    return await verifyWith(checked, dataDir, storage, opts);
  } finally {
    db.close();
  }
}

/** Verifies a PostgreSQL database and the bytes of its file rows, in `storage` (the data dir's files/ or a bucket). */
export async function verifyPostgres(db: ExistingPostgres, opts: VerifyOptions & { dataDir: string; storage: Storage }): Promise<VerifyReport> {
  const checked: Checked = {
    engine: "postgres",
    database: db.url,
    schemaVersion: db.schemaVersion,
    executableSchemaVersion: POSTGRES_SCHEMA_VERSION,
    stats: postgresStats(db.sql),
    engineProblems: () => postgresProblems(db.sql),
  };
  return verifyWith(checked, resolve(opts.dataDir), opts.storage, opts);
}
