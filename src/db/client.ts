// Opens the SQLite database in the data dir with the pragmas the product relies on.
import { Database } from "bun:sqlite";
import { drizzle, type BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import { closeSync, openSync } from "node:fs";
import { dataDirLayout } from "../storage/layout";
import * as schema from "./schema";

export type Db = BunSQLiteDatabase<typeof schema> & { $client: Database };

export interface DbHandle {
  db: Db;
  sqlite: Database;
  path: string;
  close(): void;
}

/**
 * Opens (creating if needed) the database file. WAL with synchronous=FULL: a commit the client was
 * told about survives power loss, at ~5k single-row commits/s on this class of machine.
 */
export function openDatabase(dataDir: string, opts: { readonly?: boolean } = {}): DbHandle {
  const path = dataDirLayout(dataDir).database;
  // Created 0600 before SQLite sees it: SQLite would create it 0644 (minus the umask) and gives -wal/-shm the
  // main file's mode. The database holds webhook secrets and stored replies.
  if (!opts.readonly) closeSync(openSync(path, "a", 0o600));
  const sqlite = opts.readonly ? new Database(path, { readonly: true, strict: true }) : new Database(path, { create: true, strict: true });
  sqlite.exec("PRAGMA busy_timeout = 5000");
  if (!opts.readonly) {
    sqlite.exec("PRAGMA journal_mode = WAL");
    sqlite.exec("PRAGMA synchronous = FULL");
  }
  sqlite.exec("PRAGMA foreign_keys = ON");
  const db = drizzle({ client: sqlite, schema }) as Db;
  return {
    db,
    sqlite,
    path,
    close() {
      try {
        if (!opts.readonly) sqlite.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      } finally {
        sqlite.close();
      }
    },
  };
}
