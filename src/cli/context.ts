// What every data command shares: config from flags/env, a writable data dir, an open and migrated database.
import { accessSync, constants, mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { ConfigError, loadConfig, type Config, type LoadedConfig } from "../config";
import { openDatabase, type DbHandle } from "../db/client";
import { migrate, SchemaError, type MigrationResult } from "../db/migrate";
import { systemClock, type Clock } from "../lib/clock";
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

/** Creates the data dir if needed and proves it writable; a ConfigError (exit 2) otherwise. */
export function ensureDataDir(dir: string): string {
  const abs = resolve(dir);
  try {
    mkdirSync(abs, { recursive: true });
    accessSync(abs, constants.W_OK | constants.R_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    throw new ConfigError(`data dir ${abs} is not writable (${code})`);
  }
  return abs;
}

export interface DataContext {
  loaded: LoadedConfig;
  config: Config;
  handle: DbHandle;
  clock: Clock;
  migration: MigrationResult;
  /** What services take: the database and the clock. */
  deps: { db: DbHandle["db"]; clock: Clock };
}

/** Loads config, opens and migrates the database. The caller closes `handle`. */
export function openDataContext(args: ParsedArgs, io: Io): DataContext {
  const loaded = loadConfig(args.flags, io.env);
  const dataDir = ensureDataDir(loaded.config.dataDir);
  const config = { ...loaded.config, dataDir };
  let handle: DbHandle;
  try {
    handle = openDatabase(dataDir);
  } catch (err) {
    // E.g. "file is not a database": one line for the admin (exit 1), not an "unexpected error" stack trace.
    throw new SchemaError(`cannot open the database in ${dataDir}: ${err instanceof Error ? err.message : String(err)}`);
  }
  try {
    const migration = migrate(handle.sqlite);
    return { loaded, config, handle, clock: systemClock, migration, deps: { db: handle.db, clock: systemClock } };
  } catch (err) {
    handle.sqlite.close();
    throw err;
  }
}

/** Prints `value` as JSON with --json, else the readable text. */
export function print(io: Io, args: ParsedArgs, value: unknown, text: () => string): void {
  io.out(args.flags.json ? JSON.stringify(value, null, 2) : text());
}
