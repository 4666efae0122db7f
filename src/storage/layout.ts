// The data dir's layout, in one place: database file, stored files, temp uploads, lock, signing key, and the one rule for a storage key.
import { join } from "node:path";

/** The SQLite database (with `-wal` and `-shm` beside it while open). */
export const DB_FILENAME = "clientcove.db";
/** Stored bytes, at `files/<org_id>/<file_id>`. */
export const FILES_DIRNAME = "files";
/** Uploads in progress and crash-recovery intents (same filesystem as files/, so the final rename is atomic). */
export const TMP_DIRNAME = "tmp";
/** The lock that keeps a second server off the data dir. */
export const LOCK_FILENAME = "serve.lock";
/** The secret that signs download links. */
export const DOWNLOAD_KEY_FILENAME = "download-url.key";

export interface DataDirLayout {
  database: string;
  files: string;
  tmp: string;
  lock: string;
  downloadKey: string;
}

/** Every path of a data dir. docs/operations.md ("The data directory") describes the same table. */
export function dataDirLayout(dataDir: string): DataDirLayout {
  return {
    database: join(dataDir, DB_FILENAME),
    files: join(dataDir, FILES_DIRNAME),
    tmp: join(dataDir, TMP_DIRNAME),
    lock: join(dataDir, LOCK_FILENAME),
    downloadKey: join(dataDir, DOWNLOAD_KEY_FILENAME),
  };
}

/**
 * True for a top-level name the layout accounts for: the database and its -wal/-shm/-journal, the lock, the signing
 * key (and its temp files while being created), files/ and tmp/. Anything else in a data dir is not ours.
 */
export function isLayoutEntry(name: string): boolean {
  return (
    name.startsWith(DB_FILENAME) || name.startsWith(LOCK_FILENAME) || name.startsWith(DOWNLOAD_KEY_FILENAME) || name === FILES_DIRNAME || name === TMP_DIRNAME
  );
}

/** One segment of a storage key: one of our ids (letters, digits, `_`, `-`), so never `.`, `..`, empty or a separator. */
const KEY_SEGMENT = /^[A-Za-z0-9_-]+$/;

/** True for a valid storage key segment (an organization's directory under files/). */
export function isValidKeySegment(segment: string): boolean {
  return KEY_SEGMENT.test(segment);
}

/**
 * The one rule for a storage key, used by the storage driver, verify, backup and restore: `<org_id>/<file_id>`,
 * exactly two segments of our own ids, never a client-chosen name, so a key can never leave files/.
 */
export function isValidStorageKey(key: string): boolean {
  const slash = key.indexOf("/");
  return slash > 0 && isValidKeySegment(key.slice(0, slash)) && isValidKeySegment(key.slice(slash + 1));
}

/** Where a file's bytes live: derived from ids only, never from the client's filename. */
export function storageKeyOf(orgId: string, fileId: string): string {
  return `${orgId}/${fileId}`;
}
