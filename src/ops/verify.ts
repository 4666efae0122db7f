// `verify`: the database's integrity, every file row's bytes (present, right size, right sha256), and orphaned bytes, on disk or in a bucket.
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { SCHEMA_VERSION } from "../db/migrate";
import { openStorage, type Storage } from "../storage";
import { isValidStorageKey } from "../storage/layout";
import { openExistingDatabase } from "./existing-db";
import { fileRowById, iterateFileRows } from "./stats-store";

export type ProblemKind = "database" | "missing" | "size_mismatch" | "sha256_mismatch" | "unsafe_storage_key";

export interface VerifyProblem {
  kind: ProblemKind;
  file_id?: string;
  org_id?: string;
  path?: string;
  message: string;
}

export interface VerifyReport {
  ok: boolean;
  data_dir: string;
  /** Where the bytes are: the data dir's files/ directory, or `s3://bucket/prefix`. */
  storage: string;
  schema_version: number;
  /** True when `serve` will migrate this database forward at its next start. */
  migration_pending: boolean;
  files_checked: number;
  bytes_checked: number;
  /** Whether sha256 was computed (false with --quick: presence and size only). */
  hashed: boolean;
  problems: VerifyProblem[];
  /** Stored bytes (under files/, or in the bucket's prefix) that no file row references: wasted space, not data loss. */
  orphans: { path: string; size: number }[];
}

/** The sha256 of an object's bytes, or null when it is gone (deleted since it was listed). */
async function sha256Object(storage: Storage, key: string): Promise<string | null> {
  const read = await storage.read(key);
  if (!read) return null;
  const hash = createHash("sha256");
  for await (const chunk of read.body) hash.update(chunk);
  return hash.digest("hex");
}

/**
 * Checks a data dir's database and the stored bytes of every file row (files/ in the data dir, or the bucket of
 * `storage`); safe while the server runs (read-only, short reads). A file that disappears while being checked is
 * only a problem if its row still exists afterwards (a concurrent delete is not).
 */
export async function verifyDataDir(opts: { dataDir: string; quick?: boolean; storage?: Storage }): Promise<VerifyReport> {
  const dataDir = resolve(opts.dataDir);
  const storage = opts.storage ?? openStorage({ dataDir });
  const db = openExistingDatabase(dataDir, { readOnly: true });
  const problems: VerifyProblem[] = [];
  const orphans: VerifyReport["orphans"] = [];
  let filesChecked = 0;
  let bytesChecked = 0;
  try {
    const integrity = (db.sqlite.query("PRAGMA integrity_check").all() as { integrity_check: string }[]).map((r) => r.integrity_check);
    if (integrity.length !== 1 || integrity[0] !== "ok") {
      for (const line of integrity.slice(0, 20)) problems.push({ kind: "database", message: `integrity check: ${line}` });
    }
    const fkRows = db.sqlite.query("PRAGMA foreign_key_check").all() as { table: string; rowid: number; parent: string }[];
    for (const r of fkRows.slice(0, 20))
      problems.push({ kind: "database", message: `foreign key: row ${r.rowid} of ${r.table} points to a missing ${r.parent}` });
    if (fkRows.length > 20) problems.push({ kind: "database", message: `foreign key: ${fkRows.length - 20} more violations` });

    for (const row of iterateFileRows(db.sqlite)) {
      const ids = { file_id: row.id, org_id: row.org_id };
      if (!isValidStorageKey(row.storage_key)) {
        problems.push({ kind: "unsafe_storage_key", ...ids, message: `storage key ${JSON.stringify(row.storage_key)} is not <org_id>/<file_id>` });
        continue;
      }
      const rel = storage.locate(row.storage_key);
      const missing = () => {
        if (fileRowById(db.sqlite, row.id))
          problems.push({ kind: "missing", ...ids, path: rel, message: `bytes missing (expected ${row.size_bytes} bytes at ${rel})` });
      };
      filesChecked++;
      const stat = await storage.stat(row.storage_key);
      if (!stat) {
        missing();
        continue;
      }
      if (stat.size !== row.size_bytes) {
        problems.push({ kind: "size_mismatch", ...ids, path: rel, message: `${stat.size} bytes stored, ${row.size_bytes} expected` });
        continue;
      }
      bytesChecked += stat.size;
      if (opts.quick) continue;
      const digest = await sha256Object(storage, row.storage_key);
      if (digest === null) {
        missing();
        continue;
      }
      if (digest !== row.sha256)
        problems.push({
          kind: "sha256_mismatch",
          ...ids,
          path: rel,
          message: `sha256 of the stored bytes ${digest} differs from the row's ${row.sha256} (corrupt bytes)`,
        });
    }

    // Orphans: looked up after the rows, one indexed lookup each (the file id is the key's last segment).
    if (storage.list) {
      for await (const object of storage.list()) {
        const id = object.key.split("/").at(-1)!;
        const row = fileRowById(db.sqlite, id);
        if (row && row.storage_key === object.key) continue;
        orphans.push({ path: storage.locate(object.key), size: object.size });
      }
    }
    return {
      ok: problems.length === 0,
      data_dir: dataDir,
      storage: storage.description,
      schema_version: db.schemaVersion,
      migration_pending: db.schemaVersion < SCHEMA_VERSION,
      files_checked: filesChecked,
      bytes_checked: bytesChecked,
      hashed: !opts.quick,
      problems,
      orphans,
    };
  } finally {
    db.close();
  }
}
