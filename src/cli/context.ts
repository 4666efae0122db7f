// What every data command shares: config from flags/env, a private writable data dir, an open and migrated database, the lock.
import { accessSync, constants, mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { ConfigError, loadConfig, type Config, type LoadedConfig } from "../config";
import { openDatabase, type DbHandle } from "../db/client";
import { migrate, SchemaError, type MigrationResult } from "../db/migrate";
import type { Writer } from "../db/writer";
import { systemClock, type Clock } from "../lib/clock";
import { acquireDataDirLock, type DataDirLock } from "../ops/data-dir-lock";
import { DIR_MODE, securePrivateDataDir } from "../ops/data-dir-modes";
import { sqliteEngine, type Stores } from "../stores";
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

export interface DataContext {
  loaded: LoadedConfig;
  config: Config;
  handle: DbHandle;
  clock: Clock;
  migration: MigrationResult;
  /**
   * What services take: the stores (reads), the writer (every change, awaited: it resolves after the commit) and the
   * clock. The engine's, so the same commands run unchanged on another engine.
   */
  deps: { stores: Stores; writer: Writer<Stores>; clock: Clock };
  /** Modes tightened in an existing data dir (only with `tighten`). */
  tightened: number;
  /** The data dir's exclusive lock, when one was asked for; released by `close()`. */
  lock?: DataDirLock;
  /** Closes the database, then releases the lock. */
  close(): void;
}

export interface OpenOptions {
  /** Hold the data dir's exclusive lock (taken before the database is opened or migrated). */
  lock?: "serve" | "migrate";
  /** Tighten an existing data dir's modes (serve and migrate do; commands that run beside a server need not). */
  tighten?: boolean;
}

/** Loads config, opens and migrates the database. The caller calls `close()`. */
export function openDataContext(args: ParsedArgs, io: Io, opts: OpenOptions = {}): DataContext {
  return openLoadedDataContext(loadConfig(args.flags, io.env), opts);
}

/** As openDataContext, from a config already loaded (serve loads it first, to bind its port before touching the data dir). */
export function openLoadedDataContext(loaded: LoadedConfig, opts: OpenOptions = {}): DataContext {
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
    const close = () => {
      try {
        handle.close();
      } finally {
        lock?.release();
      }
    };
    const { stores, writer } = sqliteEngine(handle.sqlite);
    return { loaded, config, handle, clock: systemClock, migration, deps: { stores, writer, clock: systemClock }, tightened, lock, close };
  } catch (err) {
    handle.sqlite.close();
    lock?.release();
    throw err;
  }
}

/** Prints `value` as JSON with --json, else the readable text. */
export function print(io: Io, args: ParsedArgs, value: unknown, text: () => string): void {
  io.out(args.flags.json ? JSON.stringify(value, null, 2) : text());
}
