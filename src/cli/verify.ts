// `clientcove verify`: check an install's database (SQLite in the data dir, or PostgreSQL) and stored bytes; exit 1 on any problem; --repair removes old leftovers.
import { ConfigError, loadConfig } from "../config";
import { formatBytes } from "../lib/format-bytes";
import { REPAIR_MIN_AGE_MS, verifyDataDir, verifyPostgres } from "../ops/verify";
import { openReachableStorage } from "../storage";
import { CONFIG_FLAGS, parseArgs, UsageError } from "./args";
import { print, type Io } from "./context";
import { withExistingPostgres } from "./read-postgres";

const MIN_AGE_HOURS = REPAIR_MIN_AGE_MS / 3_600_000;

export const VERIFY_HELP = `Usage: clientcove verify [--data-dir DIR] [--quick] [--repair] [--json]
Checks the database (SQLite: integrity and foreign keys; PostgreSQL: foreign keys, constraints and indexes; both:
ticket counts) and that every file row has its bytes with the right size and sha256; lists orphans (bytes no
row references) and, on S3, unfinished multipart uploads. Exit code 1 on problems; orphans alone are reported
but are not a failure. Safe while servers run. With --database-url, checks that PostgreSQL database (never
migrating it); with --storage-url, the bytes in that bucket (exit 2 if either does not answer).
  --quick    Check presence and size only, not sha256
  --repair   Delete orphans and abort unfinished uploads older than ${MIN_AGE_HOURS} hours (younger ones may be
             uploads in progress); missing or damaged bytes are reported, never "repaired"`;

export async function runVerify(argv: string[], io: Io): Promise<number> {
  const args = parseArgs(argv, { ...CONFIG_FLAGS, quick: "boolean", repair: "boolean", json: "boolean", help: "boolean" });
  if (args.flags.help) {
    io.out(VERIFY_HELP);
    return 0;
  }
  if (args.positionals.length) throw new UsageError(`unexpected argument ${args.positionals[0]}`);
  const { config } = loadConfig(args.flags, io.env);
  const storage = await openReachableStorage(config, (message) => new ConfigError(message));
  const opts = { dataDir: config.dataDir, quick: args.flags.quick === true, repair: args.flags.repair === true, storage };
  const r = config.databaseUrl ? await withExistingPostgres(config, (db) => verifyPostgres(db, opts)) : await verifyDataDir(opts);
  const fix = r.repair;
  print(io, args, r, () =>
    [
      `Database: ${r.problems.some((p) => p.kind === "database") ? "PROBLEMS" : "ok"} (${r.engine === "postgres" ? `${r.database}, ` : ""}schema version ${r.schema_version}${r.migration_pending ? ", will be migrated at next start" : ""})`,
      ...(storage.kind === "local" ? [] : [`Storage: ${r.storage}`]),
      `Files: ${r.files_checked} checked (${formatBytes(r.bytes_checked)}${r.hashed ? ", sha256 verified" : ", sizes only"})`,
      ...r.problems.map((p) => `  ${p.kind.padEnd(18)} ${p.file_id ? `${p.file_id} (org ${p.org_id}): ` : ""}${p.message}`),
      `Orphans: ${r.orphans.length}${r.orphans.length && !fix ? ` (bytes no file row references; --repair deletes those over ${MIN_AGE_HOURS} hours old)` : ""}`,
      ...r.orphans.slice(0, 100).map((o) => `  ${o.path} (${formatBytes(o.size)})`),
      ...(r.orphans.length > 100 ? [`  ... and ${r.orphans.length - 100} more (see --json)`] : []),
      ...(storage.kind === "s3"
        ? [`Unfinished uploads: ${r.unfinished_uploads.length}`, ...r.unfinished_uploads.slice(0, 100).map((u) => `  ${u.path} (begun ${u.initiated_at})`)]
        : []),
      ...(fix
        ? [
            `Repair: ${fix.removed_orphans} orphan(s) deleted, ${fix.aborted_uploads} unfinished upload(s) aborted; left ${fix.kept_young} younger than ${fix.min_age_hours} hours (possibly uploads in progress)${fix.kept_not_a_key ? `, ${fix.kept_not_a_key} not named like stored files (remove by hand)` : ""}`,
          ]
        : []),
      r.ok ? "OK" : `FAILED: ${r.problems.length} problem(s)`,
    ].join("\n"),
  );
  return r.ok ? 0 : 1;
}
