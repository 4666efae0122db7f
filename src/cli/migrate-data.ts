// `clientcove migrate-data`: move a stopped embedded install (SQLite in --data-dir, its files, the signing key) into PostgreSQL, and its files into a bucket if asked; verified, resumable.
import { ConfigError, loadConfig } from "../config";
import { parseDatabaseUrl, redactDatabaseUrl } from "../db/postgres/client";
import { formatBytes } from "../lib/format-bytes";
import { acquireDataDirLock, dataDirLockHolder } from "../ops/data-dir-lock";
import { InUseError, OpsError } from "../ops/errors";
import { TargetNotEmpty } from "../ops/copy-tables";
import { migrateData, type MigratePause } from "../ops/migrate-data";
import { checkStorage, openStorage } from "../storage";
import { parseStorageUrl, storageCredentialsProblem } from "../storage/s3-url";
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { CONFIG_FLAGS, parseArgs, requireFlag, UsageError } from "./args";
import { openLoadedDataContext, print, type Io } from "./context";

export const MIGRATE_DATA_HELP = `Usage: clientcove migrate-data --to-database postgres://… [--to-storage s3://…] [--data-dir DIR] [--json]
Copies the embedded install of the data dir (every row, the download-link signing key, and with --to-storage
every file) into an empty PostgreSQL database, and the files into that bucket; without --to-storage the files
stay in the data dir. The server must be stopped (refused while one holds the data dir). Files go first (one
already in the bucket with the right size and sha256 is kept), then every row in one transaction, so an
interrupted run can simply be run again. Then it verifies row counts per table and re-reads every file's bytes
(size and sha256): exit 0 when all match, 1 naming each mismatch. Never changes the data dir.
Bucket credentials as for serve: CLIENTCOVE_S3_ACCESS_KEY_ID / CLIENTCOVE_S3_SECRET_ACCESS_KEY (or AWS_*).
  --to-database URL   The target PostgreSQL database (empty; migrated here); give it in the environment of a
                      shell others cannot read: a flag's value is visible in ps
  --to-storage URL    The target bucket, s3://bucket[/prefix]?endpoint=…&region=… (as --storage-url)`;

/**
 * Test-only: `files:N` stops (waits forever) after N files, `rows:TABLE` inside the row transaction after TABLE, each
 * after printing a line, so that a test can SIGKILL the run at a known point. Not for production use.
 */
const TEST_PAUSE_ENV = "CLIENTCOVE_TEST_MIGRATE_DATA_PAUSE";

function testPause(env: Io["env"]): MigratePause | undefined {
  const raw = env[TEST_PAUSE_ENV];
  if (!raw) return undefined;
  const [kind, value] = raw.split(":");
  if (kind === "files" && /^\d+$/.test(value ?? "")) return { afterFiles: Number(value) };
  if (kind === "rows" && value) return { afterTable: value };
  throw new ConfigError(`${TEST_PAUSE_ENV} must be files:N or rows:TABLE`);
}

export async function runMigrateData(argv: string[], io: Io): Promise<number> {
  const args = parseArgs(argv, { ...CONFIG_FLAGS, "to-database": "string", "to-storage": "string", json: "boolean", help: "boolean" });
  if (args.flags.help) {
    io.out(MIGRATE_DATA_HELP);
    return 0;
  }
  if (args.positionals.length) throw new UsageError(`unexpected argument ${args.positionals[0]}`);
  const toDatabase = requireFlag(args, "to-database").trim();
  try {
    parseDatabaseUrl(toDatabase);
  } catch (err) {
    throw new ConfigError(`--to-database: ${(err as Error).message}`);
  }
  const toStorage = typeof args.flags["to-storage"] === "string" ? args.flags["to-storage"].trim() : "";
  if (toStorage) {
    try {
      parseStorageUrl(toStorage);
    } catch (err) {
      throw new ConfigError(`--to-storage: ${(err as Error).message}`);
    }
  }
  const loaded = loadConfig(args.flags, io.env);
  const { config } = loaded;
  if (config.databaseUrl)
    throw new ConfigError(
      `migrate-data copies the data dir's SQLite database, but a database URL is configured (${redactDatabaseUrl(config.databaseUrl)}); unset --database-url / CLIENTCOVE_DATABASE_URL and name the target with --to-database`,
    );
  if (toStorage) {
    const problem = storageCredentialsProblem({ ...config, storageUrl: toStorage }, loaded.origins, io.env);
    if (problem) throw new ConfigError(problem.replace("--storage-url", "--to-storage"));
  }
  const pause = testPause(io.env);
  const dataDir = resolve(config.dataDir);
  if (!existsSync(dataDir) || !statSync(dataDir).isDirectory()) throw new OpsError(`data dir ${dataDir} does not exist`);

  // The source stays stopped while it is copied: no server may start on it (nor run on it now).
  let lock: ReturnType<typeof acquireDataDirLock>;
  try {
    lock = acquireDataDirLock(dataDir, "migrate");
  } catch (err) {
    if (!(err instanceof InUseError)) throw err;
    const pid = dataDirLockHolder(dataDir);
    throw new InUseError(
      `data dir ${dataDir} is in use by a running Client Cove server${pid ? ` (pid ${pid})` : ""}; stop it first: migrate-data copies a stopped install`,
    );
  }
  try {
    const sourceStorage = openStorage(config);
    const sameStorage = !toStorage || toStorage === config.storageUrl;
    const targetStorage = sameStorage ? null : openStorage({ ...config, storageUrl: toStorage });
    for (const s of [sourceStorage, targetStorage]) {
      const problem = s ? await checkStorage(s) : null;
      if (problem) throw new ConfigError(problem);
    }
    // Connected (one line and exit 2 when it cannot be) and migrated: a new database gets its tables.
    const ctx = await openLoadedDataContext({ ...loaded, config: { ...config, databaseUrl: toDatabase } }, { dataDirOnPostgres: false });
    const database = redactDatabaseUrl(toDatabase);
    try {
      if (ctx.database.kind !== "postgres") throw new Error("expected a PostgreSQL context");
      const result = await migrateData({
        dataDir,
        sourceStorage,
        targetStorage,
        sql: ctx.database.handle.sql,
        progress: args.flags.json ? undefined : (line) => io.err(line),
        pause,
      }).catch((err) => {
        if (err instanceof TargetNotEmpty)
          throw new ConfigError(
            `refusing to migrate into the database at ${database}: it is not empty (table ${err.table} has rows); give migrate-data a new, empty database`,
          );
        throw err;
      });
      const files = (targetStorage ?? sourceStorage).description;
      const seconds = Math.round(result.ms / 100) / 10;
      print(
        io,
        args,
        {
          data_dir: dataDir,
          database,
          storage: files,
          tables: result.tables,
          rows: result.rows,
          files: result.files,
          bytes: result.bytes,
          files_copied: result.filesCopied,
          rows_already_copied: result.rowsAlreadyCopied,
          seconds,
          problems: result.problems,
        },
        () =>
          [
            `Copied ${dataDir} into PostgreSQL at ${database}${result.rowsAlreadyCopied ? " (rows by an earlier run)" : ""}; files in ${files}:`,
            `${Object.keys(result.tables).length} tables, ${result.rows} rows; ${result.files} files (${formatBytes(result.bytes)}), ${result.filesCopied} copied by this run; ${seconds} s.`,
            result.problems.length
              ? `Verification FAILED: ${result.problems.length} problem(s), listed on stderr.`
              : "Verified: the row counts of every table are equal, and every file's bytes were re-read with their size and sha256.",
            ...(result.problems.length
              ? []
              : [
                  `Start the instances with CLIENTCOVE_DATABASE_URL${targetStorage || config.storageUrl ? " and CLIENTCOVE_STORAGE_URL" : ""} set (see docs/operations.md).`,
                ]),
          ].join("\n"),
      );
      for (const p of result.problems) io.err(`problem: ${p}`);
      return result.problems.length ? 1 : 0;
    } finally {
      await ctx.close();
    }
  } finally {
    lock.release();
  }
}
