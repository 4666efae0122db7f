// `clientcove backup`: write a consistent backup archive of a data dir, online.
import { ConfigError, loadConfig } from "../config";
import { createBackup } from "../ops/backup";
import { formatBytes } from "../lib/format-bytes";
import { CONFIG_FLAGS, parseArgs, requireFlag, UsageError } from "./args";
import { print, type Io } from "./context";
import { withExistingPostgres } from "./read-postgres";
import { versionInfo } from "../version";
import { openReachableStorage } from "../storage";

export const BACKUP_HELP = `Usage: clientcove backup --out FILE.tar.gz [--data-dir DIR] [--force] [--json]
Writes a backup while the server keeps running: a consistent snapshot of the database, every stored
file it references, the download-link signing key, and a manifest with the sha256 of every member.
The archive holds secrets (webhook secrets, the signing key): keep it as safe as the data dir. It and
its temporary files are 0600; temporary files an interrupted backup left beside FILE are removed.
With --storage-url, the files are read from that bucket; with --database-url, the rows from that PostgreSQL
database (one consistent snapshot; the database is not migrated). The archive is the same either way, and
restores into either engine.
  --out FILE    Where to write the archive (appears only once complete)
  --force       Replace FILE if it exists`;

export async function runBackup(argv: string[], io: Io): Promise<number> {
  const args = parseArgs(argv, { ...CONFIG_FLAGS, out: "string", force: "boolean", json: "boolean", help: "boolean" });
  if (args.flags.help) {
    io.out(BACKUP_HELP);
    return 0;
  }
  if (args.positionals.length) throw new UsageError(`unexpected argument ${args.positionals[0]}`);
  const out = requireFlag(args, "out");
  const { config } = loadConfig(args.flags, io.env);
  const storage = await openReachableStorage(config, (message) => new ConfigError(message));
  const { version, commit } = versionInfo();
  const options = { dataDir: config.dataDir, out, force: args.flags.force === true, producer: { version, commit }, storage };
  const result = config.databaseUrl ? await withExistingPostgres(config, (db) => createBackup({ ...options, postgres: db.sql })) : await createBackup(options);
  const m = result.manifest;
  for (const w of m.warnings) io.err(`warning: ${w}`);
  const files = m.members.filter((x) => x.path.startsWith("files/")).length;
  print(
    io,
    args,
    {
      out: result.out,
      archive_bytes: result.archiveBytes,
      vanished: result.vanished,
      removed_leftovers: result.removedLeftovers,
      manifest: { ...m, members: m.members.length },
    },
    () =>
      [
        `Backed up ${m.counts.orgs} organizations, ${m.counts.tickets} tickets, ${files} files (${formatBytes(m.stored_bytes)}), schema version ${m.schema_version}`,
        `to ${result.out} (${formatBytes(result.archiveBytes)}).`,
        ...(result.removedLeftovers.length ? [`Removed ${result.removedLeftovers.length} temporary file(s) left by an interrupted backup.`] : []),
        ...(result.vanished.length ? [`${result.vanished.length} file(s) deleted during the backup were left out.`] : []),
        ...(m.warnings.length ? [`${m.warnings.length} warning(s) about the source data; run \`clientcove verify\`.`] : []),
      ].join("\n"),
  );
  return 0;
}
