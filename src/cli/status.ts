// `clientcove status`: counts and sizes of an install, read from its database (SQLite in the data dir, or PostgreSQL) without a server.
import { loadConfig } from "../config";
import { formatBytes } from "../lib/format-bytes";
import { readPostgresStatus, readStatus } from "../ops/status";
import { CONFIG_FLAGS, parseArgs, UsageError } from "./args";
import { print, type Io } from "./context";
import { withExistingPostgres } from "./read-postgres";

export const STATUS_HELP = `Usage: clientcove status [--data-dir DIR] [--json]
Prints the schema version and what the data dir holds: organizations, tickets, files and stored bytes,
webhook deliveries by status. Reads the database directly; works with the server stopped or running.
With a database URL, reads that PostgreSQL database (its size as pg_database_size); it is never migrated.`;

export async function runStatus(argv: string[], io: Io): Promise<number> {
  const args = parseArgs(argv, { ...CONFIG_FLAGS, json: "boolean", help: "boolean" });
  if (args.flags.help) {
    io.out(STATUS_HELP);
    return 0;
  }
  if (args.positionals.length) throw new UsageError(`unexpected argument ${args.positionals[0]}`);
  const { config } = loadConfig(args.flags, io.env);
  const s = config.databaseUrl
    ? await withExistingPostgres(config, (db) => readPostgresStatus({ ...db, dataDir: config.dataDir }))
    : await readStatus(config.dataDir);
  const d = s.deliveries;
  print(io, args, s, () =>
    [
      `Data dir:        ${s.data_dir}`,
      `Database:        ${s.database} (${formatBytes(s.database_bytes)})`,
      `Schema version:  ${s.schema_version}${s.schema_version < s.executable_schema_version ? ` (this executable migrates it to ${s.executable_schema_version} at start)` : ""}`,
      `Organizations:   ${s.counts.orgs}`,
      `Users:           ${s.counts.users} (${s.counts.api_keys} API keys)`,
      `Tickets:         ${s.counts.tickets}`,
      `Folders:         ${s.counts.folders}`,
      `Files:           ${s.counts.files} (${formatBytes(s.stored_bytes)} stored)`,
      `Webhooks:        ${s.counts.webhooks}`,
      `Deliveries:      ${d.pending} pending, ${d.failed} failed, ${d.succeeded} succeeded, ${d.cancelled} cancelled`,
      `Outbox events:   ${s.counts.events}`,
    ].join("\n"),
  );
  return 0;
}
