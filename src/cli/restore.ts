// `clientcove restore`: unpack a backup archive into a new, empty data dir after checking it (with a database URL: its rows into an empty PostgreSQL database).
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { ConfigError, loadConfig } from "../config";
import { redactDatabaseUrl } from "../db/postgres/client";
import { TargetNotEmpty } from "../ops/copy-tables";
import { dataDirLockHolder } from "../ops/data-dir-lock";
import { InUseError, OpsError } from "../ops/errors";
import { formatBytes } from "../lib/format-bytes";
import { restoreBackup } from "../ops/restore";
import { CONFIG_FLAGS, parseArgs, UsageError } from "./args";
import { openLoadedDataContext, print, type DataContext, type Io } from "./context";
import { openReachableStorage } from "../storage";

export const RESTORE_HELP = `Usage: clientcove restore FILE.tar.gz --data-dir EMPTY_DIR [--json]
Restores a backup into a data dir that is new or empty; refuses anything else. Checks every member
against the manifest (size and sha256), the database's integrity and row counts; on any failure it
removes what it wrote. Refused for a data dir a server is running on. Run it as the user the server runs
as, then start the server on that dir. With --storage-url, the files go into that bucket (nothing may be
stored under its prefix yet) and the database into the data dir; without it, into the data dir's files/.
With --database-url, the rows go into that PostgreSQL database instead (migrated first; it must hold no row,
so do not start a server on it before), in one transaction, and the signing key into its settings; the data
dir then keeps only files/ (when there is no bucket). A backup of either engine restores into either.`;

export async function runRestore(argv: string[], io: Io): Promise<number> {
  const args = parseArgs(argv, { ...CONFIG_FLAGS, json: "boolean", help: "boolean" });
  if (args.flags.help) {
    io.out(RESTORE_HELP);
    return 0;
  }
  const [archive, ...rest] = args.positionals;
  if (!archive) throw new UsageError("restore needs the backup file: clientcove restore FILE.tar.gz --data-dir EMPTY_DIR");
  if (rest.length) throw new UsageError(`unexpected argument ${rest[0]}`);
  const loaded = loadConfig(args.flags, io.env);
  const { config } = loaded;
  // Before connecting anywhere: a mistyped archive name is the common mistake.
  if (!existsSync(resolve(archive))) throw new OpsError(`backup archive ${resolve(archive)} does not exist`);
  const storage = await openReachableStorage(config, (message) => new ConfigError(message));
  const target = resolve(config.dataDir);
  // A clear refusal before the emptiness check (which would refuse too, less helpfully).
  const holder = existsSync(target) ? dataDirLockHolder(target) : null;
  if (holder !== null)
    throw new InUseError(
      `data dir ${target} is being served by a running Client Cove process${holder ? ` (pid ${holder})` : ""}; restore into a new, empty directory instead`,
    );
  // PostgreSQL: connected and migrated (a new database gets its tables) before anything is unpacked.
  const ctx: DataContext | undefined = config.databaseUrl ? await openLoadedDataContext(loaded, { dataDirOnPostgres: false }) : undefined;
  let r: Awaited<ReturnType<typeof restoreBackup>>;
  try {
    r = await restoreBackup({ archive, dataDir: config.dataDir, storage, ...(ctx?.database.kind === "postgres" ? { postgres: ctx.database.handle.sql } : {}) });
  } catch (err) {
    if (err instanceof TargetNotEmpty)
      throw new ConfigError(
        `refusing to restore into the database at ${redactDatabaseUrl(config.databaseUrl)}: it is not empty (table ${err.table} has rows); restore into a new, empty database`,
      );
    throw err;
  } finally {
    await ctx?.close();
  }
  for (const w of r.manifest.warnings) io.err(`warning (recorded at backup time): ${w}`);
  print(
    io,
    args,
    {
      data_dir: r.dataDir,
      files: r.files,
      bytes: r.bytes,
      schema_version: r.manifest.schema_version,
      backup_created_at: r.manifest.created_at,
      backup_version: r.manifest.version,
      counts: r.manifest.counts,
      ...(config.databaseUrl ? { database: redactDatabaseUrl(config.databaseUrl), database_rows: r.postgresRows } : {}),
    },
    () =>
      [
        `Restored the backup of ${r.manifest.created_at} (Client Cove ${r.manifest.version}, schema version ${r.manifest.schema_version}) into ${config.databaseUrl ? `PostgreSQL at ${redactDatabaseUrl(config.databaseUrl)}, files into ${storage.description}` : r.dataDir}:`,
        `${r.manifest.counts.orgs} organizations, ${r.manifest.counts.tickets} tickets, ${r.files} files (${formatBytes(r.bytes)}). Every member matched the manifest.`,
        config.databaseUrl
          ? `Start it with the same database URL${config.storageUrl ? " and storage URL" : ""}: clientcove serve --data-dir ${r.dataDir}`
          : `Start it with: clientcove serve --data-dir ${r.dataDir}`,
      ].join("\n"),
  );
  return 0;
}
