// `backup`: a consistent online snapshot (VACUUM INTO, or PostgreSQL's rows copied into a private SQLite file) plus every referenced stored file (from disk or a bucket) and a manifest, as one tar.gz.
import { Database } from "bun:sqlite";
import { randomBytes } from "node:crypto";
import { closeSync, createWriteStream, existsSync, openSync, readdirSync, rmSync, statSync } from "node:fs";
import { open, rename, type FileHandle } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import type { Sql } from "postgres";
import { migrate, readSchemaVersion } from "../db/migrate";
import { toIso } from "../lib/time";
import { openStorage, type Storage } from "../storage";
import { dataDirLayout, DOWNLOAD_KEY_FILENAME, FILES_DIRNAME, isValidStorageKey } from "../storage/layout";
import { copyRows } from "./copy-tables";
import { OpsError } from "./errors";
import { openExistingDatabase } from "./existing-db";
import { BACKUP_FORMAT, BACKUP_FORMAT_VERSION, DATABASE_MEMBER, MANIFEST_NAME, type BackupManifest, type ManifestMember } from "./manifest";
import { countRows, fileRowById, iterateFileRows, storedBytes } from "./stats-store";
import { tarBytes, tarEnd, tarFile } from "./tar";

const READ_CHUNK = 1024 * 1024;

export interface BackupOptions {
  dataDir: string;
  out: string;
  /** Replace an existing file at `out`. */
  force?: boolean;
  /** The executable writing the backup, recorded in the manifest. */
  producer: { version: string; commit: string };
  /** Where the stored files are read from; by default files/ in the data dir. */
  storage?: Storage;
  /**
   * The rows are in this PostgreSQL database rather than the data dir: the snapshot is its rows copied, in one
   * REPEATABLE READ READ ONLY transaction, into a private SQLite file of this build's schema, and the signing key is
   * its `settings` row. The archive is the same as from SQLite.
   */
  postgres?: Sql;
}

export interface BackupResult {
  out: string;
  archiveBytes: number;
  manifest: BackupManifest;
  /** Files deleted while the backup ran: dropped from the snapshot, as if deleted just before it. */
  vanished: string[];
  /** Temporary files of earlier, killed backups removed from the target's directory. */
  removedLeftovers: string[];
}

/** Reads `size` bytes from an open file in fresh chunks (the consumer may hold on to them). */
async function* readHandle(fh: FileHandle, size: number): AsyncGenerator<Uint8Array> {
  let position = 0;
  while (position < size) {
    const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, size - position));
    const { bytesRead } = await fh.read(buf, 0, buf.length, position);
    if (bytesRead === 0) return;
    position += bytesRead;
    yield buf.subarray(0, bytesRead);
  }
}

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * The names of a backup's own temporary files beside its target: `<out>.<pid>-<8 hex>.snapshot.db` (plus
 * SQLite's -journal/-wal/-shm of it) and `<out>.<pid>-<8 hex>.partial`. Nothing else matches.
 */
const LEFTOVER = /^(.+)\.(\d+)-[0-9a-f]{8}\.(?:snapshot\.db(?:-journal|-wal|-shm)?|partial)$/;

function isRunning(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: alive, another user's.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes what killed backups left in `dir`: only files named like a backup's own temporaries, and only
 * those of a process that no longer runs (a backup running beside this one keeps its files). Returns the names.
 */
export function removeBackupLeftovers(dir: string): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = LEFTOVER.exec(name);
    if (!m || isRunning(Number(m[2]))) continue;
    const st = statSync(join(dir, name), { throwIfNoEntry: false });
    if (!st?.isFile()) continue;
    rmSync(join(dir, name), { force: true });
    removed.push(name);
  }
  return removed;
}

/**
 * Writes a backup of a data dir, safe while the server runs and writes:
 * 1. `VACUUM INTO` a private snapshot (a consistent read of the live WAL database, never a file copy), or, with
 *    `postgres`, the database's rows copied into one (snapshotPostgres);
 * 2. every file its rows reference, each opened (a descriptor on disk, a GET on S3) and then streamed;
 * 3. the snapshot, minus rows of files deleted meanwhile; then the manifest (sizes and sha256 of every member).
 * Stored files are immutable, so bytes read after the snapshot are the bytes it refers to.
 * The archive appears at `out` only when complete (written beside it, fsynced, renamed). Every temporary file
 * is 0600 (the snapshot holds every secret of the database), and leftovers of killed backups are removed first.
 */
export async function createBackup(opts: BackupOptions): Promise<BackupResult> {
  const dataDir = resolve(opts.dataDir);
  const storage = opts.storage ?? openStorage({ dataDir });
  const out = resolve(opts.out);
  if (existsSync(out) && !opts.force) throw new OpsError(`${out} already exists; choose another name or pass --force`);
  if (!existsSync(dirname(out))) throw new OpsError(`directory ${dirname(out)} does not exist`);
  // SQLite: not query_only, SQLite counts VACUUM INTO as a write. This connection runs only the VACUUM INTO and lookups.
  const live = opts.postgres ? null : openExistingDatabase(dataDir, { readOnly: false });
  const pg = opts.postgres;
  const tag = `${process.pid}-${randomBytes(4).toString("hex")}`;
  const snapshotPath = `${out}.${tag}.snapshot.db`;
  const partialPath = `${out}.${tag}.partial`;
  const leftovers = removeBackupLeftovers(dirname(out));
  const vanished: string[] = [];
  const warnings: string[] = [];
  const members: ManifestMember[] = [];
  let manifest: BackupManifest | undefined;
  let settingsKey: string | undefined;
  /** Whether a file row is still in the live database (a row gone since the snapshot: the file was deleted meanwhile). */
  const stillThere = async (id: string) => (pg ? (await pg`SELECT 1 FROM files WHERE id = ${id}`).length > 0 : fileRowById(live!.sqlite, id) !== null);
  try {
    // Created empty and 0600 first (VACUUM INTO accepts an empty file): SQLite would create it 0644 minus the umask.
    closeSync(openSync(snapshotPath, "wx", 0o600));
    if (pg) settingsKey = await snapshotPostgres(pg, snapshotPath);
    else live!.sqlite.query("VACUUM INTO ?").run(snapshotPath);
    const snapshot = new Database(snapshotPath, { readwrite: true, strict: true });
    const snapshotClosed = { value: false };
    const closeSnapshot = () => {
      if (!snapshotClosed.value) snapshot.close();
      snapshotClosed.value = true;
    };
    try {
      const archive = async function* (): AsyncGenerator<Uint8Array> {
        for (const row of iterateFileRows(snapshot)) {
          if (!isValidStorageKey(row.storage_key)) throw new OpsError(`unsafe storage key ${JSON.stringify(row.storage_key)} in the files table`);
          const member = `${FILES_DIRNAME}/${row.storage_key}`;
          const read = await storage.read(row.storage_key);
          if (!read) {
            if (!(await stillThere(row.id))) vanished.push(row.id);
            else warnings.push(`file ${row.id} (org ${row.org_id}): bytes missing at ${storage.locate(row.storage_key)}; the row is kept without them`);
            continue;
          }
          const digest = yield* tarFile(member, read.size, read.body, { mode: 0o600 });
          members.push({ path: member, ...digest });
          if (read.size !== row.size_bytes) warnings.push(`file ${row.id} (org ${row.org_id}): ${read.size} bytes stored, ${row.size_bytes} in its row`);
          else if (digest.sha256 !== row.sha256)
            warnings.push(`file ${row.id} (org ${row.org_id}): sha256 of the stored bytes differs from its row (corrupt bytes)`);
        }
        const keyPath = dataDirLayout(dataDir).downloadKey;
        if (pg) {
          // The member holds what the key file holds on SQLite (hex and a newline), so it restores into either engine.
          if (settingsKey !== undefined) {
            const digest = yield* tarBytes(DOWNLOAD_KEY_FILENAME, new TextEncoder().encode(`${settingsKey}\n`), { mode: 0o600 });
            members.push({ path: DOWNLOAD_KEY_FILENAME, ...digest });
          }
        } else if (existsSync(keyPath)) {
          const digest = yield* tarBytes(DOWNLOAD_KEY_FILENAME, new Uint8Array(await Bun.file(keyPath).arrayBuffer()), { mode: 0o600 });
          members.push({ path: DOWNLOAD_KEY_FILENAME, ...digest });
        }
        if (vanished.length) {
          const del = snapshot.prepare("DELETE FROM files WHERE id = ?");
          snapshot.transaction(() => vanished.forEach((id) => del.run(id)))();
        }
        const counts = countRows(snapshot);
        const bytes = storedBytes(snapshot);
        const schemaVersion = readSchemaVersion(snapshot);
        snapshot.exec("PRAGMA journal_mode = DELETE");
        closeSnapshot();
        const dbSize = statSync(snapshotPath).size;
        const dbHandle = await open(snapshotPath, "r");
        try {
          const digest = yield* tarFile(DATABASE_MEMBER, dbSize, readHandle(dbHandle, dbSize), { mode: 0o600 });
          members.push({ path: DATABASE_MEMBER, ...digest });
        } finally {
          await dbHandle.close();
        }
        manifest = {
          format: BACKUP_FORMAT,
          format_version: BACKUP_FORMAT_VERSION,
          version: opts.producer.version,
          commit: opts.producer.commit,
          schema_version: schemaVersion,
          created_at: toIso(Date.now()),
          counts,
          stored_bytes: bytes,
          members,
          warnings,
        };
        yield* tarBytes(MANIFEST_NAME, new TextEncoder().encode(JSON.stringify(manifest, null, 2) + "\n"));
        yield tarEnd();
      };
      await pipeline(archive, createGzip({ level: 6 }), createWriteStream(partialPath, { flags: "wx", mode: 0o600 }));
    } finally {
      closeSnapshot();
    }
    await fsyncPath(partialPath);
    await rename(partialPath, out);
    await fsyncPath(dirname(out)).catch(() => {});
    return { out, archiveBytes: statSync(out).size, manifest: manifest!, vanished, removedLeftovers: leftovers };
  } catch (err) {
    rmSync(partialPath, { force: true });
    throw err;
  } finally {
    rmSync(snapshotPath, { force: true });
    for (const suffix of ["-journal", "-wal", "-shm"]) rmSync(`${snapshotPath}${suffix}`, { force: true });
    live?.close();
  }
}

/**
 * PostgreSQL's rows into the (empty, 0600) SQLite file at `path`, migrated to this build's schema first: one
 * REPEATABLE READ READ ONLY transaction, so the copy is one consistent snapshot while servers keep writing. Returns
 * the signing key of the `settings` row (read in the same snapshot), if there is one.
 */
async function snapshotPostgres(sql: Sql, path: string): Promise<string | undefined> {
  const snapshot = new Database(path, { readwrite: true, strict: true });
  try {
    migrate(snapshot);
    snapshot.exec("BEGIN");
    try {
      const copied = await sql.begin("ISOLATION LEVEL REPEATABLE READ READ ONLY", async (tx) => {
        await tx`SET LOCAL statement_timeout = 0`;
        return copyRows({ kind: "postgres", sql: tx }, { kind: "sqlite", sqlite: snapshot });
      });
      snapshot.exec("COMMIT");
      return copied.downloadKey;
    } catch (err) {
      snapshot.exec("ROLLBACK");
      throw err;
    }
  } finally {
    snapshot.close();
  }
}
