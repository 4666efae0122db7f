// `verify`: the database's integrity, every file row's bytes (present, right size, right sha256), and orphaned bytes.
import { createHash } from "node:crypto";
import { createReadStream, readdirSync, statSync, type Dirent } from "node:fs";
import { join, resolve } from "node:path";
import { SCHEMA_VERSION } from "../db/migrate";
import { dataDirLayout, FILES_DIRNAME, isValidStorageKey } from "../storage/layout";
import { openExistingDatabase, storedFilePath } from "./existing-db";
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
  schema_version: number;
  /** True when `serve` will migrate this database forward at its next start. */
  migration_pending: boolean;
  files_checked: number;
  bytes_checked: number;
  /** Whether sha256 was computed (false with --quick: presence and size only). */
  hashed: boolean;
  problems: VerifyProblem[];
  /** Bytes under files/ that no file row references: wasted space, not data loss. */
  orphans: { path: string; size: number }[];
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** Relative paths of every regular file under `root` (non-files such as symlinks are listed too: nothing else belongs there). */
function walk(root: string, rel = ""): string[] {
  let entries: Dirent[];
  try {
    entries = readdirSync(join(root, rel), { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const out: string[] = [];
  for (const e of entries) {
    const path = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...walk(root, path));
    else out.push(path);
  }
  return out;
}

/**
 * Checks a data dir; safe while the server runs (read-only, short reads). A file that disappears while
 * being checked is only a problem if its row still exists afterwards (a concurrent delete is not).
 */
export async function verifyDataDir(opts: { dataDir: string; quick?: boolean }): Promise<VerifyReport> {
  const dataDir = resolve(opts.dataDir);
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
      const path = storedFilePath(dataDir, row.storage_key);
      const rel = `${FILES_DIRNAME}/${row.storage_key}`;
      filesChecked++;
      let size: number;
      try {
        size = statSync(path).size;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
        if (fileRowById(db.sqlite, row.id))
          problems.push({ kind: "missing", ...ids, path: rel, message: `bytes missing (expected ${row.size_bytes} bytes at ${rel})` });
        continue;
      }
      if (size !== row.size_bytes) {
        problems.push({ kind: "size_mismatch", ...ids, path: rel, message: `${size} bytes on disk, ${row.size_bytes} expected` });
        continue;
      }
      bytesChecked += size;
      if (opts.quick) continue;
      let digest: string;
      try {
        digest = await sha256File(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT" || !fileRowById(db.sqlite, row.id)) continue;
        problems.push({ kind: "missing", ...ids, path: rel, message: `bytes missing (expected ${row.size_bytes} bytes at ${rel})` });
        continue;
      }
      if (digest !== row.sha256)
        problems.push({ kind: "sha256_mismatch", ...ids, path: rel, message: `sha256 on disk ${digest} differs from the row's ${row.sha256} (corrupt bytes)` });
    }

    // Orphans: looked up after the rows, one indexed lookup each (the file id is the key's last segment).
    const root = dataDirLayout(dataDir).files;
    for (const rel of walk(root)) {
      const id = rel.split("/").at(-1)!;
      const row = fileRowById(db.sqlite, id);
      if (row && row.storage_key === rel) continue;
      let size = 0;
      try {
        size = statSync(join(root, rel)).size;
      } catch {
        continue;
      }
      orphans.push({ path: `${FILES_DIRNAME}/${rel}`, size });
    }
    return {
      ok: problems.length === 0,
      data_dir: dataDir,
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
