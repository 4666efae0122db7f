// The data dir's layout (database, stored files, temp uploads, signing key) and opening an existing database for ops commands.
import { Database } from "bun:sqlite";
import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { DB_FILENAME } from "../db/client";
import { readSchemaVersion, SCHEMA_VERSION } from "../db/migrate";

/** A problem an ops command reports as one line (`clientcove: ...`) and exit code 1. */
export class OpsError extends Error {
  override name = "OpsError";
}

/** Another process holds what this command needs (the port, the data dir): one line (`clientcove: ...`) and exit code 2. */
export class InUseError extends Error {
  override name = "InUseError";
}

export const FILES_DIRNAME = "files";
export const TMP_DIRNAME = "tmp";
export const DOWNLOAD_KEY_FILENAME = "download-url.key";

export function databasePath(dataDir: string): string {
  return join(dataDir, DB_FILENAME);
}

export function filesDir(dataDir: string): string {
  return join(dataDir, FILES_DIRNAME);
}

/** A storage key is `<org_id>/<file_id>`: two plain path segments, never anything that could leave files/. */
const SAFE_SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;
export function isSafeStorageKey(key: string): boolean {
  const parts = key.split("/");
  return parts.length === 2 && parts.every((p) => SAFE_SEGMENT.test(p) && p !== "." && p !== "..");
}

/** Where the bytes of a stored file live; throws on a key that is not a safe relative path. */
export function storedFilePath(dataDir: string, storageKey: string): string {
  if (!isSafeStorageKey(storageKey)) throw new OpsError(`unsafe storage key ${JSON.stringify(storageKey)} in the files table`);
  return join(dataDir, FILES_DIRNAME, storageKey);
}

export interface ExistingDb {
  sqlite: Database;
  path: string;
  schemaVersion: number;
  close(): void;
}

/**
 * Opens the data dir's database for an ops command: never creates it, never migrates it, and with
 * `readOnly` refuses every write (query_only). Opened read-write at the file level on purpose: the last
 * connection to close removes the -wal/-shm files, which a read-only connection would leave behind
 * (owned by whoever ran the command, e.g. root, which then blocks the service user).
 */
export function openExistingDatabase(dataDir: string, opts: { readOnly: boolean }): ExistingDb {
  const dir = resolve(dataDir);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new OpsError(`data dir ${dir} does not exist`);
  const path = databasePath(dir);
  if (!existsSync(path)) throw new OpsError(`no Client Cove database in ${dir} (expected ${DB_FILENAME})`);
  let sqlite: Database;
  try {
    sqlite = new Database(path, { readwrite: true, strict: true });
  } catch {
    // A read-only mount or file: reading still works.
    sqlite = new Database(path, { readonly: true, strict: true });
  }
  try {
    sqlite.exec("PRAGMA busy_timeout = 5000");
    if (opts.readOnly) sqlite.exec("PRAGMA query_only = ON");
    const schemaVersion = readSchemaVersion(sqlite);
    if (schemaVersion === 0)
      throw new OpsError(`the database in ${dir} has never been migrated; run \`clientcove migrate --data-dir ${dir}\` or start the server once`);
    if (schemaVersion > SCHEMA_VERSION) {
      throw new OpsError(
        `the database in ${dir} was written by a newer version of Client Cove (schema version ${schemaVersion}; this executable knows ${SCHEMA_VERSION}); use that version`,
      );
    }
    return { sqlite, path, schemaVersion, close: () => sqlite.close() };
  } catch (err) {
    sqlite.close();
    throw err;
  }
}
