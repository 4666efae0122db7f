// What every data command shares: config from flags/env, a private writable data dir, an open and migrated database (SQLite in the data dir, or PostgreSQL), the lock.
import { accessSync, constants, mkdirSync } from "node:fs";
import { resolve } from "node:path";
import type { Sql } from "postgres";
import { ConfigError, loadConfig, type Config, type LoadedConfig } from "../config";
import { openDatabase, type DbHandle } from "../db/client";
import { migrate, SchemaError, type MigrationResult } from "../db/migrate";
import { openPostgres, redactDatabaseUrl, type PostgresHandle } from "../db/postgres/client";
import { migratePostgres } from "../db/postgres/migrate";
import type { Writer } from "../db/writer";
import { systemClock, type Clock } from "../lib/clock";
import { acquireDataDirLock, type DataDirLock } from "../ops/data-dir-lock";
import { DIR_MODE, securePrivateDataDir } from "../ops/data-dir-modes";
import { postgresEngine, sqliteEngine, type Stores } from "../stores";
import type { ParsedArgs } from "./args";

export interface Io {
  out(text: string): void;
  err(text: string): void;
  env: Record<string, string | undefined>;
}

export const processIo: Io = {
  out: (text) => process.stdout.write(text + "\n"),
  err: (text) => process.stderr.write(text + "\n"),
  env: process.env,
};

/** How long start-up waits for PostgreSQL to accept a connection before giving up (exit 2). */
export const POSTGRES_CONNECT_TIMEOUT_MS = 10_000;

/**
 * Creates the data dir if needed (0700) and proves it writable; a ConfigError (exit 2) otherwise. With
 * `tighten`, also tightens the modes of an existing data dir's files (see securePrivateDataDir).
 */
export function ensureDataDir(dir: string, opts: { tighten?: boolean } = {}): { path: string; tightened: number } {
  const abs = resolve(dir);
  let tightened = 0;
  try {
    if (opts.tighten) tightened = securePrivateDataDir(abs);
    else mkdirSync(abs, { recursive: true, mode: DIR_MODE });
    accessSync(abs, constants.W_OK | constants.R_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    throw new ConfigError(`data dir ${abs} is not writable (${code})`);
  }
  return { path: abs, tightened };
}

/** The open database of a context: SQLite in the data dir, or a PostgreSQL pool (`url` with the password masked). */
export type OpenDatabase = { kind: "sqlite"; handle: DbHandle } | { kind: "postgres"; handle: PostgresHandle; url: string };

/** What services take: the stores (reads), the writer (every change, awaited: it resolves after the commit) and the clock. */
export interface ServiceDeps {
  stores: Stores;
  writer: Writer<Stores>;
  clock: Clock;
}

export interface DataContext {
  loaded: LoadedConfig;
  config: Config;
  database: OpenDatabase;
  clock: Clock;
  migration: MigrationResult;
  /** The engine's stores and writer, so the same commands run unchanged on either engine. */
  deps: ServiceDeps;
  /** Modes tightened in an existing data dir (only with `tighten`). */
  tightened: number;
  /** The data dir's exclusive lock, when one was asked for; released by `close()`. */
  lock?: DataDirLock;
  /** Closes the database (SQLite: checkpoint and close, at once; PostgreSQL: ends the pool), then releases the lock. */
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Hold the data dir's exclusive lock (taken before the database is opened or migrated). */
  lock?: "serve" | "migrate";
  /** Tighten an existing data dir's modes (serve and migrate do; commands that run beside a server need not). */
  tighten?: boolean;
  /**
   * On PostgreSQL, whether the command uses the data dir at all (serve does: local files, its lock; migrate does not:
   * the advisory lock coordinates it with running servers). Default true.
   */
  dataDirOnPostgres?: boolean;
}

/** Network failures, as the admin reads them (anything else is PostgreSQL's or TLS's own words). */
const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ETIMEDOUT: "no answer",
};
const WAIT = `${POSTGRES_CONNECT_TIMEOUT_MS / 1000} s`;

/** One line for a failed first connection, without the password: what the network or PostgreSQL said. */
function connectFailure(err: unknown, url: string): ConfigError {
  const e = err as { code?: string; message?: string };
  const code = e.code ?? "";
  const where = `cannot connect to PostgreSQL at ${redactDatabaseUrl(url)}`;
  if (code === "CONNECT_TIMEOUT") return new ConfigError(`${where}: no answer within ${WAIT} (${code})`);
  const network = NETWORK_REASONS[code];
  if (network) return new ConfigError(`${where}: ${network} (${code}; start-up waits up to ${WAIT} for the database)`);
  // A server error (bad password, no such role or database, too many connections…) carries its SQLSTATE as the code.
  let said = (e.message ?? String(err)).replace(/\s+/g, " ").trim();
  const password = passwordOf(url);
  if (password) said = said.split(password).join("********");
  return new ConfigError(`${where}: ${said}${code ? ` (${code})` : ""}`);
}

function passwordOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).password);
  } catch {
    return "";
  }
}

/** The first connection, within POSTGRES_CONNECT_TIMEOUT_MS: a ConfigError (exit 2, one line) when it fails. */
export async function connect(sql: Sql, url: string): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error("timeout"), { code: "CONNECT_TIMEOUT" })), POSTGRES_CONNECT_TIMEOUT_MS);
  });
  try {
    await Promise.race([sql`SELECT 1`, timeout]);
  } catch (err) {
    throw connectFailure(err, url);
  } finally {
    clearTimeout(timer);
  }
}

/** Opens the pool of `config.databaseUrl` (connections are made on first use). */
export function openPool(config: Config): PostgresHandle {
  try {
    return openPostgres({
      url: config.databaseUrl,
      poolSize: config.databasePoolSize,
      statementTimeoutMs: config.databaseStatementTimeoutMs,
      connectTimeoutMs: POSTGRES_CONNECT_TIMEOUT_MS,
    });
  } catch (err) {
    // E.g. an sslrootcert file that cannot be read.
    throw new ConfigError(`--database-url: ${(err as Error).message}`);
  }
}

/**
 * Ends the pool once its users are done (serve: requests drained, dispatcher stopped, writer flushed): queries still
 * running get 1 s. Not PostgresHandle.close's 5 s: postgres.js waits out the whole grace for a connection whose
 * (re)connection failed earlier, even when nothing runs, so a server that saw the database go away would take 5 s to stop.
 */
async function endPool(pg: PostgresHandle): Promise<void> {
  await pg.sql.end({ timeout: 1 });
}

/** Connects (bounded) and migrates; on failure the pool is ended at once and the error is the admin's one line. */
async function connectAndMigrate(pg: PostgresHandle, url: string): Promise<MigrationResult> {
  try {
    await connect(pg.sql, url);
    // Under an advisory lock: instances starting together apply each migration exactly once.
    return await migratePostgres(pg.sql);
  } catch (err) {
    await pg.sql.end({ timeout: 0 }).catch(() => {});
    throw err;
  }
}

/**
 * Loads config, opens and migrates the database, for commands that only call services (keys, orgs, users). Returned
 * at once, like the SQLite connection: on PostgreSQL the connection and migration run in the background and every
 * store call and write waits for them (a failure rejects the call with its one-line ConfigError or SchemaError).
 * The caller calls `close()`; awaiting it lets the pool say goodbye to the server.
 */
export function openDataContext(args: ParsedArgs, io: Io): Pick<DataContext, "config" | "deps" | "close"> {
  const loaded = loadConfig(args.flags, io.env);
  if (!loaded.config.databaseUrl) {
    const ctx = openSqliteContext(loaded, {});
    return ctx;
  }
  const config = { ...loaded.config, dataDir: resolve(loaded.config.dataDir) };
  const pg = openPool(config);
  const ready = connectAndMigrate(pg, config.databaseUrl);
  // Observed here too: a command may fail (bad input) before it calls a store, and then nobody else awaits it.
  ready.catch(() => {});
  const engine = postgresEngine(pg.sql);
  const deps: ServiceDeps = {
    stores: afterReady(engine.stores, ready),
    writer: { ...engine.writer, write: (work) => ready.then(() => engine.writer.write(work)) },
    clock: systemClock,
  };
  return {
    config,
    deps,
    async close() {
      if (
        await ready.then(
          () => true,
          () => false,
        )
      ) {
        await engine.writer.flush();
        await endPool(pg);
      }
    },
  };
}

/** Each store of `stores` with every method waiting for `ready` first. */
function afterReady(stores: Stores, ready: Promise<unknown>): Stores {
  const wrap = <T extends object>(store: T): T =>
    new Proxy(store, {
      get(target, prop) {
        const value = Reflect.get(target, prop) as unknown;
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => ready.then(() => (value as (...a: unknown[]) => unknown).apply(target, args));
      },
    });
  return Object.fromEntries(Object.entries(stores).map(([name, store]) => [name, wrap(store as object)])) as unknown as Stores;
}

/**
 * As openDataContext, from a config already loaded, for serve and migrate: the data dir (still used on PostgreSQL:
 * local files, the lock), its lock when asked for, then the database opened and migrated before this resolves.
 */
export async function openLoadedDataContext(loaded: LoadedConfig, opts: OpenOptions = {}): Promise<DataContext> {
  if (!loaded.config.databaseUrl) return openSqliteContext(loaded, opts);
  const usesDataDir = opts.dataDirOnPostgres ?? true;
  const { path: dataDir, tightened } = usesDataDir
    ? ensureDataDir(loaded.config.dataDir, { tighten: opts.tighten })
    : { path: resolve(loaded.config.dataDir), tightened: 0 };
  const config = { ...loaded.config, dataDir };
  const lock = opts.lock && usesDataDir ? acquireDataDirLock(dataDir, opts.lock) : undefined;
  try {
    const pg = openPool(config);
    const migration = await connectAndMigrate(pg, config.databaseUrl);
    const { stores, writer } = postgresEngine(pg.sql);
    return {
      loaded,
      config,
      database: { kind: "postgres", handle: pg, url: redactDatabaseUrl(config.databaseUrl) },
      clock: systemClock,
      migration,
      deps: { stores, writer, clock: systemClock },
      tightened,
      lock,
      async close() {
        try {
          await endPool(pg);
        } finally {
          lock?.release();
        }
      },
    };
  } catch (err) {
    lock?.release();
    throw err;
  }
}

/** SQLite in the data dir: lock (if asked), open, migrate; all synchronous. */
function openSqliteContext(loaded: LoadedConfig, opts: OpenOptions): DataContext {
  const { path: dataDir, tightened } = ensureDataDir(loaded.config.dataDir, { tighten: opts.tighten });
  const config = { ...loaded.config, dataDir };
  // Before the database is opened: a second server must not migrate, sweep or bootstrap under the first.
  const lock = opts.lock ? acquireDataDirLock(dataDir, opts.lock) : undefined;
  let handle: DbHandle;
  try {
    handle = openDatabase(dataDir);
  } catch (err) {
    lock?.release();
    // E.g. "file is not a database": one line for the admin (exit 1), not an "unexpected error" stack trace.
    throw new SchemaError(`cannot open the database in ${dataDir}: ${err instanceof Error ? err.message : String(err)}`);
  }
  try {
    const migration = migrate(handle.sqlite);
    const close = async () => {
      try {
        handle.close();
      } finally {
        lock?.release();
      }
    };
    const { stores, writer } = sqliteEngine(handle.sqlite);
    return {
      loaded,
      config,
      database: { kind: "sqlite", handle },
      clock: systemClock,
      migration,
      deps: { stores, writer, clock: systemClock },
      tightened,
      lock,
      close,
    };
  } catch (err) {
    handle.sqlite.close();
    lock?.release();
    throw err;
  }
}

/**
 * For commands that read the data dir's SQLite files directly (backup, restore, verify, status): refuses, with one
 * line (exit 2), when the configuration points at PostgreSQL, instead of silently reading a data dir's database that
 * is not the one in use.
 */
export function refuseOnPostgres(config: Pick<Config, "databaseUrl">, command: string): void {
  if (config.databaseUrl)
    throw new ConfigError(
      `${command} does not support PostgreSQL yet, and a database URL is configured (${redactDatabaseUrl(config.databaseUrl)}): it reads only a data dir's SQLite database, so it refuses rather than work on the wrong one`,
    );
}

/** Prints `value` as JSON with --json, else the readable text. */
export function print(io: Io, args: ParsedArgs, value: unknown, text: () => string): void {
  io.out(args.flags.json ? JSON.stringify(value, null, 2) : text());
}
