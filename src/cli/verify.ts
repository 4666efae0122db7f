// `clientcove verify`: check a data dir's database and stored bytes; exit 1 on any problem.
import { ConfigError, loadConfig } from "../config";
import { formatBytes } from "../lib/format-bytes";
import { verifyDataDir } from "../ops/verify";
import { CONFIG_FLAGS, parseArgs, UsageError } from "./args";
import { print, refuseOnPostgres, type Io } from "./context";
import { openReachableStorage } from "../storage";

export const VERIFY_HELP = `Usage: clientcove verify [--data-dir DIR] [--quick] [--json]
Checks the database (SQLite integrity and foreign keys) and that every file row has its bytes with the
right size and sha256; lists orphans (bytes no row references). Exit code 1 on problems; orphans alone
are reported but are not a failure. Safe while the server runs. With --storage-url, the bytes are checked
in that bucket (exit 2 if it does not answer).
  --quick    Check presence and size only, not sha256`;

export async function runVerify(argv: string[], io: Io): Promise<number> {
  const args = parseArgs(argv, { ...CONFIG_FLAGS, quick: "boolean", json: "boolean", help: "boolean" });
  if (args.flags.help) {
    io.out(VERIFY_HELP);
    return 0;
  }
  if (args.positionals.length) throw new UsageError(`unexpected argument ${args.positionals[0]}`);
  const { config } = loadConfig(args.flags, io.env);
  refuseOnPostgres(config, "verify");
  const storage = await openReachableStorage(config, (message) => new ConfigError(message));
  const r = await verifyDataDir({ dataDir: config.dataDir, quick: args.flags.quick === true, storage });
  print(io, args, r, () =>
    [
      `Database: ${r.problems.some((p) => p.kind === "database") ? "PROBLEMS" : "ok"} (schema version ${r.schema_version}${r.migration_pending ? ", will be migrated at next start" : ""})`,
      ...(storage.kind === "local" ? [] : [`Storage: ${r.storage}`]),
      `Files: ${r.files_checked} checked (${formatBytes(r.bytes_checked)}${r.hashed ? ", sha256 verified" : ", sizes only"})`,
      ...r.problems.map((p) => `  ${p.kind.padEnd(18)} ${p.file_id ? `${p.file_id} (org ${p.org_id}): ` : ""}${p.message}`),
      `Orphans: ${r.orphans.length}${r.orphans.length ? " (bytes no file row references; safe to delete once the server is stopped)" : ""}`,
      ...r.orphans.slice(0, 100).map((o) => `  ${o.path} (${formatBytes(o.size)})`),
      ...(r.orphans.length > 100 ? [`  ... and ${r.orphans.length - 100} more (see --json)`] : []),
      r.ok ? "OK" : `FAILED: ${r.problems.length} problem(s)`,
    ].join("\n"),
  );
  return r.ok ? 0 : 1;
}
