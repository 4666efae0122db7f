// `clientcove migrate`: apply pending migrations to the data dir's database and report the schema version.
import { CONFIG_FLAGS, parseArgs, UsageError } from "./args";
import { openDataContext, print, type Io } from "./context";

export const MIGRATE_HELP = `Usage: clientcove migrate [--data-dir DIR] [--json]
Applies pending database migrations (serve also does this at start). Refused while a server runs on the
data dir (exit code 2): stop it first.`;

export function runMigrate(argv: string[], io: Io): number {
  const args = parseArgs(argv, { ...CONFIG_FLAGS, json: "boolean", help: "boolean" });
  if (args.flags.help) {
    io.out(MIGRATE_HELP);
    return 0;
  }
  if (args.positionals.length) throw new UsageError(`unexpected argument ${args.positionals[0]}`);
  // The data dir's lock: never migrate under a running server (nor let one start mid-migration).
  const ctx = openDataContext(args, io, { lock: "migrate", tighten: true });
  try {
    const { applied, schemaVersion } = ctx.migration;
    print(io, args, { applied, schema_version: schemaVersion, database: ctx.handle.path }, () =>
      applied.length
        ? `Applied ${applied.length} migration(s): ${applied.join(", ")}. Schema version ${schemaVersion}.`
        : `Already up to date (schema version ${schemaVersion}).`,
    );
  } finally {
    ctx.close();
  }
  return 0;
}
