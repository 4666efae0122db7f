// `clientcove migrate`: apply pending migrations to the database (the data dir's SQLite, or PostgreSQL) and report the schema version.
import { loadConfig } from "../config";
import { CONFIG_FLAGS, parseArgs, UsageError } from "./args";
import { openLoadedDataContext, print, type Io } from "./context";

export const MIGRATE_HELP = `Usage: clientcove migrate [--data-dir DIR] [--database-url URL] [--json]
Applies pending database migrations (serve also does this at start). Refused while a server runs on the
data dir (exit code 2): stop it first. On PostgreSQL (--database-url) it may run beside running servers:
migrations take an advisory lock and each is applied once.`;

export async function runMigrate(argv: string[], io: Io): Promise<number> {
  const args = parseArgs(argv, { ...CONFIG_FLAGS, json: "boolean", help: "boolean" });
  if (args.flags.help) {
    io.out(MIGRATE_HELP);
    return 0;
  }
  if (args.positionals.length) throw new UsageError(`unexpected argument ${args.positionals[0]}`);
  // SQLite: the data dir's lock, never migrate under a running server (nor let one start mid-migration). PostgreSQL:
  // the migrations' advisory lock does that, and the data dir is not needed.
  const ctx = await openLoadedDataContext(loadConfig(args.flags, io.env), { lock: "migrate", tighten: true, dataDirOnPostgres: false });
  try {
    const { applied, schemaVersion } = ctx.migration;
    const database = ctx.database.kind === "sqlite" ? ctx.database.handle.path : ctx.database.url;
    print(io, args, { applied, schema_version: schemaVersion, database }, () =>
      applied.length
        ? `Applied ${applied.length} migration(s): ${applied.join(", ")}. Schema version ${schemaVersion}.`
        : `Already up to date (schema version ${schemaVersion}).`,
    );
  } finally {
    await ctx.close();
  }
  return 0;
}
