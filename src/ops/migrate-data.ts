// `migrate-data`: an embedded install (SQLite in a stopped data dir, its files) copied into PostgreSQL (and a bucket): files first, then every row and the signing key in one transaction, then verified; resumable.
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import type { Sql, TransactionSql } from "postgres";
import { SCHEMA_VERSION } from "../db/migrate";
import { BOOTSTRAP_LOCK_KEY } from "../db/postgres/migrate";
import type { Storage } from "../storage";
import { dataDirLayout, isValidStorageKey } from "../storage/layout";
import { copyRows, countRows, firstNonEmptyTable, readDownloadKeySetting, TargetNotEmpty, type TableCounts } from "./copy-tables";
import { OpsError } from "./errors";
import { openExistingDatabase } from "./existing-db";
import { iterateFileRows, type FileRow } from "./stats-store";

/**
 * Holds the advisory lock `serve` takes around its first-start bootstrap until the copy commits, so a server started
 * meanwhile on that database waits and then finds the copied rows, instead of bootstrapping an organization of its own
 * that would fail the copy.
 */
export async function holdBootstrapLock(tx: TransactionSql): Promise<void> {
  await tx`SELECT pg_advisory_xact_lock(${BOOTSTRAP_LOCK_KEY}::bigint)`;
}

/** Test-only pauses, to interrupt a run at a known point (see CLIENTCOVE_TEST_MIGRATE_DATA_PAUSE in src/cli/migrate-data.ts). */
export type MigratePause = { afterFiles: number } | { afterTable: string };

export interface MigrateDataOptions {
  dataDir: string;
  /** Where the source's files are (the data dir's files/, or the bucket it was configured with). */
  sourceStorage: Storage;
  /** Where the files go; null when they stay where they are (no --to-storage). */
  targetStorage: Storage | null;
  /** A pool on the target database, already migrated. */
  sql: Sql;
  /** Progress lines (stderr). */
  progress?: (line: string) => void;
  pause?: MigratePause;
}

export interface MigrateDataResult {
  tables: TableCounts;
  rows: number;
  files: number;
  bytes: number;
  /** Files put into the target storage by this run (the rest were there already, complete, from an interrupted run, or stay in place). */
  filesCopied: number;
  /** The rows were committed by an earlier, interrupted run (this run only copied missing files and verified). */
  rowsAlreadyCopied: boolean;
  /** Mismatches found by the verification (or source files that are missing or corrupt): empty when all is well. */
  problems: string[];
  ms: number;
}

const KEY_TEXT = /^[0-9a-f]{64}$/;

async function sha256Of(storage: Storage, key: string): Promise<{ size: number; sha256: string } | null> {
  const read = await storage.read(key);
  if (!read) return null;
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of read.body) {
    hash.update(chunk);
    size += chunk.byteLength;
  }
  return { size, sha256: hash.digest("hex") };
}

async function* hashing(body: AsyncIterable<Uint8Array>, into: { hash: ReturnType<typeof createHash>; size: number }): AsyncGenerator<Uint8Array> {
  for await (const chunk of body) {
    into.hash.update(chunk);
    into.size += chunk.byteLength;
    yield chunk;
  }
}

const never = () => new Promise<never>(() => {});

/**
 * Copies the install in `dataDir` (the caller holds its lock: no server runs on it) into the empty database behind `sql`:
 * 1. files, when they move: each file row's bytes into the target storage; an object already there with the row's size
 *    and sha256 (an interrupted run's) is kept, so a re-run only copies what is missing;
 * 2. every row and the signing key in one transaction: an interrupted run leaves no row, and a re-run starts over;
 * 3. verification: row counts per table equal, every file's bytes re-read from where they now are (size and sha256).
 * The source is read in one SQLite read transaction, so all three see one state of it (commands such as `keys create`
 * may still write beside; what they write after the start is not copied). A target holding rows is refused
 * (TargetNotEmpty), unless they are an earlier run's complete copy of this install (the same signing key and row
 * counts): then the run resumes at the files and the verification. Never changes the source.
 */
export async function migrateData(opts: MigrateDataOptions): Promise<MigrateDataResult> {
  const started = performance.now();
  const say = opts.progress ?? (() => {});
  const db = openExistingDatabase(opts.dataDir, { readOnly: true });
  try {
    if (db.schemaVersion !== SCHEMA_VERSION)
      throw new OpsError(
        `the database in ${opts.dataDir} has schema version ${db.schemaVersion}, this executable writes ${SCHEMA_VERSION}; run \`clientcove migrate --data-dir ${opts.dataDir}\` first`,
      );
    const source = { kind: "sqlite", sqlite: db.sqlite } as const;
    // One read transaction for the whole run: files, rows and the verification see one state of the source.
    db.sqlite.exec("BEGIN");
    try {
      const counts = await countRows(source);
      const keyPath = dataDirLayout(opts.dataDir).downloadKey;
      const downloadKey = existsSync(keyPath) ? readFileSync(keyPath, "utf8").trim() : undefined;
      if (downloadKey !== undefined && !KEY_TEXT.test(downloadKey)) throw new OpsError(`${keyPath} is not a download signing key (64 hex characters)`);

      const target = { kind: "postgres", sql: opts.sql } as const;
      let rowsAlreadyCopied = false;
      const occupied = await firstNonEmptyTable(target);
      if (occupied) {
        const sameKey = downloadKey !== undefined && (await readDownloadKeySetting(opts.sql)) === downloadKey;
        if (!sameKey || JSON.stringify(await countRows(target)) !== JSON.stringify(counts)) throw new TargetNotEmpty(occupied);
        rowsAlreadyCopied = true;
        say("the rows were copied by an earlier run (same signing key and row counts); copying missing files and verifying");
      }

      const fileStorage = opts.targetStorage ?? opts.sourceStorage;
      const problems: string[] = [];
      let files = 0;
      let bytes = 0;
      let filesCopied = 0;
      const total = counts.files ?? 0;
      for (const row of iterateFileRows(db.sqlite)) {
        if (!isValidStorageKey(row.storage_key)) throw new OpsError(`unsafe storage key ${JSON.stringify(row.storage_key)} in the files table`);
        files++;
        bytes += row.size_bytes;
        if (opts.targetStorage && (await copyFile(row, opts.sourceStorage, opts.targetStorage, problems))) filesCopied++;
        if (files % 1000 === 0 || files === total) say(`files: ${files}/${total} (${filesCopied} copied)`);
        if (opts.pause && "afterFiles" in opts.pause && files === opts.pause.afterFiles) {
          say(`paused after ${files} files (test hook)`);
          await never();
        }
      }

      let tables = counts;
      if (!rowsAlreadyCopied) {
        tables = await opts.sql.begin(async (tx) => {
          // One COPY per table: not a slow statement in the sense of the per-request limit.
          await tx`SET LOCAL statement_timeout = 0`;
          await holdBootstrapLock(tx);
          const copied = await copyRows(
            source,
            { kind: "postgres", sql: tx },
            {
              ...(downloadKey !== undefined ? { downloadKey } : {}),
              onTable: async (table, n) => {
                say(`rows: ${table} ${n}`);
                if (opts.pause && "afterTable" in opts.pause && opts.pause.afterTable === table) {
                  say(`paused in the transaction after ${table} (test hook)`);
                  await never();
                }
              },
            },
          );
          return copied.tables;
        });
      }

      // Verification, from what is committed and stored now.
      const landed = await countRows(target);
      for (const [table, n] of Object.entries(counts))
        if (landed[table] !== n) problems.push(`table ${table}: ${landed[table]} rows in PostgreSQL, ${n} in the data dir`);
      for (const row of iterateFileRows(db.sqlite)) {
        const got = await sha256Of(fileStorage, row.storage_key);
        const where = fileStorage.locate(row.storage_key);
        if (!got) problems.push(`file ${row.id}: nothing stored at ${where}`);
        else if (got.size !== row.size_bytes) problems.push(`file ${row.id}: ${got.size} bytes at ${where}, ${row.size_bytes} in its row`);
        else if (got.sha256 !== row.sha256) problems.push(`file ${row.id}: the sha256 of the bytes at ${where} differs from its row`);
      }
      const rows = Object.values(tables).reduce((a, n) => a + n, 0);
      return { tables, rows, files, bytes, filesCopied, rowsAlreadyCopied, problems: [...new Set(problems)], ms: performance.now() - started };
    } finally {
      db.sqlite.exec("COMMIT");
    }
  } finally {
    db.close();
  }
}

/**
 * One file into the target storage, unless it is there already with its row's size and sha256. Returns whether it was
 * put. Bytes missing or corrupt in the source are recorded in `problems` (corrupt ones are still copied, as they are).
 */
async function copyFile(row: FileRow, from: Storage, to: Storage, problems: string[]): Promise<boolean> {
  const present = await to.stat(row.storage_key);
  if (present && present.size === row.size_bytes) {
    const got = await sha256Of(to, row.storage_key);
    if (got && got.size === row.size_bytes && got.sha256 === row.sha256) return false;
  }
  const read = await from.read(row.storage_key);
  if (!read) {
    problems.push(`file ${row.id}: nothing stored at ${from.locate(row.storage_key)} (the source is missing its bytes)`);
    return false;
  }
  const into = { hash: createHash("sha256"), size: 0 };
  await to.put(row.storage_key, hashing(read.body, into));
  if (into.size !== row.size_bytes || into.hash.digest("hex") !== row.sha256)
    problems.push(`file ${row.id}: the bytes at ${from.locate(row.storage_key)} do not match its row (size or sha256); copied as they are`);
  return true;
}
