// `restore`: unpack a backup archive into an empty data dir (and its files into the configured storage), checking every member against the manifest; with PostgreSQL, its rows copied into an empty database in one transaction.
import { Database } from "bun:sqlite";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, existsSync, mkdirSync, readdirSync, rmdirSync, rmSync, statSync } from "node:fs";
import { open } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { pipeline } from "node:stream";
import { createGunzip } from "node:zlib";
import type { Sql } from "postgres";
import { migrate, SCHEMA_VERSION } from "../db/migrate";
import { openStorage, type Storage } from "../storage";
import { dataDirLayout, DB_FILENAME, DOWNLOAD_KEY_FILENAME, FILES_DIRNAME, isValidKeySegment, isValidStorageKey } from "../storage/layout";
import { CopyError, copyRows, countRows as countTables, firstNonEmptyTable, TargetNotEmpty, type TableCounts } from "./copy-tables";
import { OpsError } from "./errors";
import { openExistingDatabase } from "./existing-db";
import { BACKUP_FORMAT_VERSION, DATABASE_MEMBER, MANIFEST_NAME, parseManifest, type BackupManifest, type ManifestMember } from "./manifest";
import { countRows } from "./stats-store";
import { holdBootstrapLock } from "./migrate-data";
import { readTar, TarError } from "./tar";

const MAX_MANIFEST_BYTES = 512 * 1024 * 1024;

export interface RestoreResult {
  dataDir: string;
  manifest: BackupManifest;
  files: number;
  bytes: number;
  /** Into PostgreSQL: the rows copied per table (the database member was not kept in the data dir). */
  postgresRows?: TableCounts;
}

/** Members a backup may hold; anything else (absolute paths, `..`, links) means it is not ours or was tampered with. */
function isAllowedMember(path: string): boolean {
  if (path === MANIFEST_NAME || path === DATABASE_MEMBER || path === DOWNLOAD_KEY_FILENAME) return true;
  return path.startsWith(`${FILES_DIRNAME}/`) && isValidStorageKey(path.slice(FILES_DIRNAME.length + 1));
}

function isAllowedDirectory(path: string): boolean {
  const p = path.replace(/\/+$/, "");
  if (p === FILES_DIRNAME) return true;
  const rest = p.slice(FILES_DIRNAME.length + 1);
  return p.startsWith(`${FILES_DIRNAME}/`) && isValidKeySegment(rest);
}

class CorruptArchive extends Error {}

/** Member bytes, hashed and counted on their way to wherever they are written. */
async function* hashed(body: AsyncIterable<Uint8Array>, into: { hash: ReturnType<typeof createHash>; size: number }): AsyncGenerator<Uint8Array> {
  for await (const chunk of body) {
    into.hash.update(chunk);
    into.size += chunk.byteLength;
    yield chunk;
  }
}

/**
 * Unpacks every member: stored files into `storage` (their keys recorded in `stored` as they land, for undo), the
 * rest into `target`. Returns each member's size and sha256, and the manifest's text.
 */
async function unpack(
  archive: string,
  target: string,
  storage: Storage,
  stored: string[],
): Promise<{ written: Map<string, ManifestMember>; manifestText: string }> {
  const written = new Map<string, ManifestMember>();
  let manifestText: string | undefined;
  // Callback pipeline: a read error or a gzip error destroys the gunzip stream, which ends the loop below with it.
  const gunzip = pipeline(createReadStream(archive), createGunzip(), () => {});
  for await (const entry of readTar(gunzip)) {
    if (entry.type === "dir") {
      if (!isAllowedDirectory(entry.path)) throw new CorruptArchive(`unexpected directory ${JSON.stringify(entry.path)}`);
      await entry.skip();
      continue;
    }
    if (!isAllowedMember(entry.path)) throw new CorruptArchive(`unexpected member ${JSON.stringify(entry.path)}`);
    if (written.has(entry.path) || (entry.path === MANIFEST_NAME && manifestText !== undefined)) throw new CorruptArchive(`member ${entry.path} appears twice`);
    if (entry.path === MANIFEST_NAME) {
      if (entry.size > MAX_MANIFEST_BYTES) throw new CorruptArchive("manifest is implausibly large");
      const chunks: Uint8Array[] = [];
      for await (const c of entry.body) chunks.push(c);
      manifestText = Buffer.concat(chunks).toString("utf8");
      continue;
    }
    const into = { hash: createHash("sha256"), size: 0 };
    if (entry.path.startsWith(`${FILES_DIRNAME}/`)) {
      // Durable once put resolves (fsync and rename on disk, a completed upload on S3); all or nothing.
      const key = entry.path.slice(FILES_DIRNAME.length + 1);
      stored.push(key);
      await storage.put(key, hashed(entry.body, into));
    } else {
      const dest = join(target, entry.path);
      mkdirSync(dirname(dest), { recursive: true, mode: 0o700 });
      const fh = await open(dest, "wx", 0o600);
      try {
        for await (const chunk of hashed(entry.body, into)) {
          let off = 0;
          while (off < chunk.byteLength) off += (await fh.write(chunk, off, chunk.byteLength - off)).bytesWritten;
        }
        // A restore is rare and must survive a crash right after it: make every member durable.
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    written.set(entry.path, { path: entry.path, size: into.size, sha256: into.hash.digest("hex") });
  }
  if (manifestText === undefined) throw new CorruptArchive("it has no manifest.json (not a Client Cove backup)");
  return { written, manifestText };
}

/** Every member the manifest lists is present with its size and sha256, and nothing else is. */
function checkAgainstManifest(manifest: BackupManifest, written: Map<string, ManifestMember>): void {
  const listed = new Set<string>();
  for (const m of manifest.members) {
    listed.add(m.path);
    const got = written.get(m.path);
    if (!got) throw new CorruptArchive(`member ${m.path} listed in the manifest is missing`);
    if (got.size !== m.size) throw new CorruptArchive(`member ${m.path} has ${got.size} bytes, the manifest says ${m.size}`);
    if (got.sha256 !== m.sha256) throw new CorruptArchive(`member ${m.path} does not match its sha256 in the manifest`);
  }
  for (const path of written.keys()) if (!listed.has(path)) throw new CorruptArchive(`member ${path} is not listed in the manifest`);
  if (!listed.has(DATABASE_MEMBER)) throw new CorruptArchive("it holds no database");
}

/** Removes what a failed restore wrote, leaving the target as it was (absent, or empty), and the objects it stored. */
async function undo(target: string, created: boolean, storage: Storage, stored: string[]): Promise<void> {
  if (storage.kind !== "local") for (const key of stored) await storage.delete(key).catch(() => {});
  if (created) {
    rmSync(target, { recursive: true, force: true });
    return;
  }
  for (const name of readdirSync(target)) rmSync(join(target, name), { recursive: true, force: true });
}

/**
 * Restores `archive` into `dataDir`, which must be absent or empty, and its files into `storage` (by default files/
 * in `dataDir`; a bucket must hold nothing under its prefix). Nothing is left behind on failure.
 * Checks, in order: the gzip and tar framing, the member names, the manifest (every member's size and
 * sha256, nothing unlisted), the schema version, SQLite's integrity check, and the row counts.
 * The database is not migrated here; `serve` (or `migrate`) does that.
 *
 * With `postgres` (a pool on a migrated database, which must hold no row: TargetNotEmpty otherwise, before anything is
 * written), the database member and the signing key are unpacked into a private directory under the data dir's tmp/
 * instead, checked the same way, migrated forward there when older than this build, and copied into PostgreSQL in one
 * transaction (the key as its `settings` row); then removed. A failure rolls the transaction back: no row.
 */
export async function restoreBackup(opts: { archive: string; dataDir: string; storage?: Storage; postgres?: Sql }): Promise<RestoreResult> {
  const archive = resolve(opts.archive);
  const target = resolve(opts.dataDir);
  const storage = opts.storage ?? openStorage({ dataDir: target });
  if (!existsSync(archive) || !statSync(archive).isFile()) throw new OpsError(`backup archive ${archive} does not exist`);
  if (opts.postgres) {
    const occupied = await firstNonEmptyTable({ kind: "postgres", sql: opts.postgres });
    if (occupied) throw new TargetNotEmpty(occupied);
  }
  let created = false;
  if (existsSync(target)) {
    if (!statSync(target).isDirectory()) throw new OpsError(`${target} is not a directory`);
    const present = readdirSync(target);
    if (present.length)
      throw new OpsError(
        `refusing to restore into ${target}: it is not empty (${present.length} entr${present.length === 1 ? "y" : "ies"}, e.g. ${present[0]}); restore into a new or empty directory`,
      );
  }
  if (storage.kind !== "local" && storage.list) {
    for await (const object of storage.list()) {
      throw new OpsError(`refusing to restore into ${storage.description}: it is not empty (e.g. ${object.key}); restore into an empty bucket or prefix`);
    }
  }
  if (!existsSync(target)) {
    mkdirSync(target, { recursive: true, mode: 0o700 });
    created = true;
  }
  const stored: string[] = [];
  // Where the database member and the key go: the data dir itself, or (PostgreSQL) a private stage inside it.
  const stage = opts.postgres ? join(dataDirLayout(target).tmp, `restore-${process.pid}-${randomBytes(4).toString("hex")}`) : target;
  try {
    if (opts.postgres) mkdirSync(stage, { recursive: true, mode: 0o700 });
    let unpacked: Awaited<ReturnType<typeof unpack>>;
    try {
      unpacked = await unpack(archive, stage, storage, stored);
    } catch (err) {
      if (err instanceof CorruptArchive || err instanceof TarError || String((err as NodeJS.ErrnoException).code ?? "").startsWith("Z_"))
        throw err instanceof CorruptArchive ? err : new CorruptArchive(zlibMessage(err));
      throw err;
    }
    const manifest = parseManifest(unpacked.manifestText);
    if (!manifest) throw new CorruptArchive("its manifest.json is not a Client Cove backup manifest");
    if (manifest.format_version > BACKUP_FORMAT_VERSION)
      throw new OpsError(
        `the backup was written in a newer format (${manifest.format_version}) by Client Cove ${manifest.version}; restore it with that version`,
      );
    if (manifest.schema_version > SCHEMA_VERSION)
      throw new OpsError(
        `the backup holds schema version ${manifest.schema_version}, newer than this executable's ${SCHEMA_VERSION}; restore it with Client Cove ${manifest.version} or later`,
      );
    checkAgainstManifest(manifest, unpacked.written);
    const db = openExistingDatabase(stage, { readOnly: true });
    try {
      const integrity = (db.sqlite.query("PRAGMA integrity_check").all() as { integrity_check: string }[]).map((r) => r.integrity_check);
      if (integrity.length !== 1 || integrity[0] !== "ok")
        throw new CorruptArchive(`its database fails SQLite's integrity check: ${integrity.slice(0, 3).join("; ")}`);
      if (db.schemaVersion !== manifest.schema_version)
        throw new CorruptArchive(`its database has schema version ${db.schemaVersion}, the manifest says ${manifest.schema_version}`);
      const counts = countRows(db.sqlite);
      for (const table of Object.keys(counts) as (keyof typeof counts)[]) {
        if (counts[table] !== manifest.counts[table])
          throw new CorruptArchive(`its database has ${counts[table]} ${table}, the manifest says ${manifest.counts[table]}`);
      }
    } finally {
      db.close();
    }
    const postgresRows = opts.postgres ? await copyIntoPostgres(stage, opts.postgres) : undefined;
    if (opts.postgres) rmSync(stage, { recursive: true, force: true });
    // The data dir as serve expects it: files/ even when empty (or unused, with S3); no tmp/ left by the uploads.
    mkdirSync(join(target, FILES_DIRNAME), { recursive: true, mode: 0o700 });
    try {
      rmdirSync(dataDirLayout(target).tmp);
    } catch {}
    const files = manifest.members.filter((m) => m.path.startsWith(`${FILES_DIRNAME}/`));
    return { dataDir: target, manifest, files: files.length, bytes: files.reduce((a, m) => a + m.size, 0), ...(postgresRows ? { postgresRows } : {}) };
  } catch (err) {
    await undo(target, created, storage, stored);
    if (err instanceof CorruptArchive)
      throw new OpsError(`backup archive ${archive} is corrupt or not a Client Cove backup: ${err.message}; nothing was restored`);
    if (err instanceof OpsError) throw new OpsError(`${err.message}; nothing was restored`);
    if (err instanceof CopyError && !(err instanceof TargetNotEmpty))
      throw new OpsError(`the backup's rows cannot be copied into PostgreSQL exactly: ${err.message}; nothing was restored`);
    throw err;
  }
}

/**
 * The staged database (checked) into PostgreSQL: migrated forward in its private copy when older than this build, then
 * every row and the signing key in one transaction, whose row counts must equal the snapshot's before it commits.
 */
async function copyIntoPostgres(stage: string, sql: Sql): Promise<TableCounts> {
  const snapshot = new Database(join(stage, DB_FILENAME), { readwrite: true, strict: true });
  try {
    migrate(snapshot);
    const keyPath = join(stage, DOWNLOAD_KEY_FILENAME);
    let downloadKey: string | undefined;
    if (existsSync(keyPath)) {
      downloadKey = (await Bun.file(keyPath).text()).trim();
      if (!/^[0-9a-f]{64}$/.test(downloadKey)) throw new CorruptArchive(`its ${DOWNLOAD_KEY_FILENAME} is not a download signing key (64 hex characters)`);
    }
    const source = { kind: "sqlite", sqlite: snapshot } as const;
    const expected = await countTables(source);
    snapshot.exec("BEGIN");
    try {
      return await sql.begin(async (tx) => {
        // A restore copies every row in one statement per table: not a slow statement for the per-request limit.
        await tx`SET LOCAL statement_timeout = 0`;
        await holdBootstrapLock(tx);
        await copyRows(source, { kind: "postgres", sql: tx }, { downloadKey });
        const copied = await countTables({ kind: "postgres", sql: tx });
        for (const [table, n] of Object.entries(expected))
          if (copied[table] !== n) throw new OpsError(`PostgreSQL holds ${copied[table]} rows of ${table} after the copy, the backup ${n}`);
        return copied;
      });
    } finally {
      snapshot.exec("COMMIT");
    }
  } finally {
    snapshot.close();
  }
}

function zlibMessage(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e instanceof TarError) return e.message;
  return e.code === "Z_BUF_ERROR" ? "the gzip stream ends early (truncated)" : `gzip data is damaged (${e.message})`;
}
