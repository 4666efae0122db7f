// Opening an existing data dir's database for ops commands, and the path of a stored file; the layout itself is storage/layout.ts.
import { Database } from "bun:sqlite";
import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { readSchemaVersion, SCHEMA_VERSION } from "../db/migrate";
import { DB_FILENAME, dataDirLayout, isValidStorageKey } from "../storage/layout";
import { OpsError } from "./errors";

/** Where the bytes of a stored file live; throws on a key that breaks the storage-key rule (it could leave files/). */
export function storedFilePath(dataDir: string, storageKey: string): string {
  if (!isValidStorageKey(storageKey)) throw new OpsError(`unsafe storage key ${JSON.stringify(storageKey)} in the files table`);
  return join(dataDirLayout(dataDir).files, storageKey);
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
  const path = dataDirLayout(dir).database;
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
