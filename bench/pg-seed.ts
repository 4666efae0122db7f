// The bench's PostgreSQL data: a server (BENCH_DATABASE_URL, or the tests' throwaway one), the SQLite seed copied into a template database, and file copies of it per server.
//
// The copy is src/ops/copy-tables.ts's copyRows (the product's SQLite→PostgreSQL row copy, as `migrate-data` uses it)
// into a database whose schema the product binary's own `migrate` made, then VACUUM ANALYZE (as an admin would after
// a bulk load). The template is named after the seed and the PostgreSQL migrations, so a kept server reuses it.
import { Database } from "bun:sqlite";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Sql } from "postgres";
import { openPostgres } from "../src/db/postgres/client";
import { copyRows } from "../src/ops/copy-tables";
import { postgresUrl } from "../test/services/postgres";

const ROOT = join(import.meta.dir, "..");

/** A pool on `url` (another database of the same server than the URL names, when `database` is given). */
export function pool(url: string, database?: string, size = 2): { sql: Sql; close(): Promise<void> } {
  return openPostgres({ url: database ? databaseUrl(url, database) : url, poolSize: size, statementTimeoutMs: 0 });
}

/** `url` with its database name replaced. */
export function databaseUrl(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export interface PostgresBench {
  /** The server's superuser URL (its own database). */
  server: string;
  /** Durability and memory settings of the server, for the header. */
  settings: string;
  /** Seconds the template took to load (0 when reused). */
  loadSeconds: number;
  /** A fresh file copy of the template named `name`; returns its URL. */
  clone(name: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * The server and the loaded template for the seed at `seedDir` (its clientcove.db), the schema made by `bin migrate`
 * (whose migrations are those in `migrationsDir`: the template's name depends on them).
 * `{ missing }` with the reason when there is no server.
 */
export async function postgresBench(
  bin: string,
  seedDir: string,
  say: (line: string) => void,
  migrationsDir = join(ROOT, "src/db/postgres/migrations"),
): Promise<PostgresBench | { missing: string }> {
  let server = process.env.BENCH_DATABASE_URL;
  if (!server) {
    server = (await postgresUrl()) ?? undefined;
    if (!server) return { missing: "no PostgreSQL server (BENCH_DATABASE_URL unset and the tests' server could not start; see above)" };
    say(`PostgreSQL: a throwaway server from test/services/postgres.ts (${new URL(server).host}), its defaults`);
  }
  const admin = pool(server);
  const h = createHash("sha256").update(seedDir);
  for (const f of readdirSync(migrationsDir).sort()) h.update(readFileSync(join(migrationsDir, f)));
  const template = `bench_seed_${h.digest("hex").slice(0, 12)}`;
  let loadSeconds = 0;
  const [ready] = await admin.sql`SELECT 1 AS one FROM pg_database WHERE datname = ${template} AND datistemplate`;
  if (ready) say(`PostgreSQL: reusing the template database ${template}`);
  else {
    const started = performance.now();
    const partial = `${template}_partial`;
    await admin.sql.unsafe(`DROP DATABASE IF EXISTS ${partial} WITH (FORCE)`);
    await admin.sql.unsafe(`CREATE DATABASE ${partial} ENCODING 'UTF8' TEMPLATE template0`);
    const url = databaseUrl(server, partial);
    const m = Bun.spawnSync([bin, "migrate", "--database-url", url], { stdout: "pipe", stderr: "pipe" });
    if (m.exitCode !== 0) throw new Error(`${bin} migrate failed: ${m.stderr.toString().trim()}`);
    say(`PostgreSQL: copying the seed into ${template} (copyRows from src/ops/copy-tables.ts; 1–2 min at 1.11M tickets)`);
    const lite = new Database(join(seedDir, "clientcove.db"), { readonly: true });
    const target = pool(server, partial);
    try {
      lite.exec("BEGIN");
      const r = await target.sql.begin((tx) => copyRows({ kind: "sqlite", sqlite: lite }, { kind: "postgres", sql: tx }));
      lite.exec("COMMIT");
      await target.sql.unsafe("VACUUM ANALYZE");
      say(`PostgreSQL: ${r.rows} rows copied`);
    } finally {
      lite.close();
      await target.close();
    }
    await admin.sql.unsafe(`ALTER DATABASE ${partial} RENAME TO ${template}`);
    await admin.sql.unsafe(`ALTER DATABASE ${template} WITH IS_TEMPLATE true`);
    loadSeconds = Math.round((performance.now() - started) / 100) / 10;
  }
  const settings = await serverSettings(admin.sql);
  return {
    server,
    settings,
    loadSeconds,
    async clone(name) {
      await cloneDatabase(admin.sql, template, name);
      return databaseUrl(server, name);
    },
    close: () => admin.close(),
  };
}

/** The server's settings that decide write durability and memory, for the bench's header. */
export async function serverSettings(sql: Sql): Promise<string> {
  const names = ["server_version", "fsync", "synchronous_commit", "wal_sync_method", "full_page_writes", "shared_buffers", "max_connections", "commit_delay"];
  const rows = await sql<{ name: string; setting: string; unit: string | null }[]>`SELECT name, setting, unit FROM pg_settings WHERE name IN ${sql(names)}`;
  const by = new Map(rows.map((r) => [r.name, r]));
  const show = (n: string) => {
    const r = by.get(n);
    if (!r) return `${n}=?`;
    if (n === "shared_buffers" && r.unit === "8kB") return `${n}=${(Number(r.setting) * 8) / 1024} MiB`;
    return `${n}=${r.setting}${r.unit && n !== "shared_buffers" ? r.unit : ""}`;
  };
  return names.map(show).join(", ");
}

/** A new database `name` as a file copy of `template` (replacing any of that name): seconds, not a reload. */
export async function cloneDatabase(admin: Sql, template: string, name: string): Promise<void> {
  await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.unsafe(`CREATE DATABASE ${name} TEMPLATE ${template} STRATEGY FILE_COPY`);
}
