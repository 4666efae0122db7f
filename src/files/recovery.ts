// Crash safety of stored bytes: intent records written before bytes and rows change, and the start-up sweep that settles them (and a bucket's stale multipart uploads).
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from "node:fs";
import { open, rm } from "node:fs/promises";
import { join } from "node:path";
import { systemClock, type Clock } from "../lib/clock";
import type { Logger } from "../lib/log";
import { randomBase62 } from "../lib/ids";
import { dataDirLayout } from "../storage/layout";
import { syncDir } from "../storage/local";
import type { Storage } from "../storage/storage";
import type { FileStore } from "./store";

/**
 * An intent names files whose bytes are about to be stored or removed: `<dataDir>/tmp/<random>.intent`,
 * one JSON line `{"id","key"}` per file. The rule it encodes: bytes at `key` must exist if and only
 * if a `files` row with `id` exists. It is durable before the bytes or the row change and removed
 * once both agree, so after a crash the sweep can tell what to delete whatever step was cut short.
 */
export interface IntentEntry {
  id: string;
  key: string;
}

export interface Intent {
  path: string;
}

const INTENT_SUFFIX = ".intent";

function intentText(entries: IntentEntry[]): string {
  return entries.map((e) => JSON.stringify({ id: e.id, key: e.key })).join("\n") + "\n";
}

/** Writes an intent and makes it durable (file and directory fsync) before returning. */
export async function writeIntent(tmpDir: string, entries: IntentEntry[]): Promise<Intent> {
  mkdirSync(tmpDir, { recursive: true });
  const path = join(tmpDir, `${randomBase62(24)}${INTENT_SUFFIX}`);
  const handle = await open(path, "wx", 0o600);
  try {
    await handle.writeFile(intentText(entries));
    await handle.sync();
  } catch (err) {
    // A full disk fails the write after the (empty) file exists: leave nothing behind.
    await handle.close().catch(() => {});
    await rm(path, { force: true }).catch(() => {});
    throw err;
  }
  await handle.close();
  await syncDir(tmpDir);
  return { path };
}

/** The synchronous twin of writeIntent, for use inside a (synchronous) SQLite transaction. */
export function writeIntentSync(tmpDir: string, entries: IntentEntry[]): Intent {
  mkdirSync(tmpDir, { recursive: true });
  const path = join(tmpDir, `${randomBase62(24)}${INTENT_SUFFIX}`);
  const fd = openSync(path, "wx", 0o600);
  try {
    writeSync(fd, intentText(entries));
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(path, { force: true });
    throw err;
  }
  closeSync(fd);
  const dirFd = openSync(tmpDir, "r");
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
  return { path };
}

/** Drops an intent once bytes and rows agree. Losing this write in a crash is harmless: the sweep re-checks. */
export async function clearIntent(intent: Intent): Promise<void> {
  await rm(intent.path, { force: true });
}

function readIntent(path: string): IntentEntry[] {
  const out: IntentEntry[] = [];
  let text = "";
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return out;
  }
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line);
      if (typeof e?.id === "string" && typeof e?.key === "string") out.push({ id: e.id, key: e.key });
    } catch {
      // A torn last line: that intent was never made durable, so its operation never went further.
    }
  }
  return out;
}

export interface LeftoverReport {
  /** Partial uploads and other debris removed from the tmp dir. */
  removedTemp: number;
  /** Stored objects deleted because no row claims them (upload cut short, or delete not finished). */
  removedObjects: number;
  /** Unfinished multipart uploads aborted in the bucket (S3 storage only): begun over STALE_UPLOAD_MS ago. */
  abortedUploads: number;
}

/**
 * A multipart upload begun this long ago is a crash's leftover: the bucket may be shared by other instances, whose
 * uploads in progress must be left alone, and no upload takes a day (the idle timeout ends a stalled one long before).
 */
export const STALE_UPLOAD_MS = 24 * 60 * 60 * 1000;

/**
 * Settles what a crash left behind, at start, before the server accepts requests: everything in
 * `<dataDir>/tmp/` that is not an intent (partial uploads) is removed, then every intent is checked
 * against the file rows (bytes without a row are deleted; rows are looked up by id alone, as intents
 * name them; on S3 too, the intents of this data dir naming objects in the bucket). The directory is listed
 * synchronously when called, so uploads that begin after the call are never touched even while the returned promise
 * settles. Storage with multipart uploads (S3) then has those begun over STALE_UPLOAD_MS ago aborted.
 */
export async function removeUploadLeftovers(deps: {
  dataDir: string;
  stores: { files: Pick<FileStore, "getAnyOrg"> };
  storage: Storage;
  log?: Logger;
  clock?: Clock;
}): Promise<LeftoverReport> {
  const tmpDir = dataDirLayout(deps.dataDir).tmp;
  const staleBefore = (deps.clock ?? systemClock).now() - STALE_UPLOAD_MS;
  let names: string[] = [];
  try {
    names = readdirSync(tmpDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const report: LeftoverReport = { removedTemp: 0, removedObjects: 0, abortedUploads: 0 };
  const intents = names.filter((n) => n.endsWith(INTENT_SUFFIX));
  const others = names.filter((n) => !n.endsWith(INTENT_SUFFIX));
  // Partial uploads first and synchronously: they are garbage whatever the intents say.
  for (const name of others) {
    rmSync(join(tmpDir, name), { recursive: true, force: true });
    report.removedTemp++;
  }
  for (const name of intents) {
    const path = join(tmpDir, name);
    for (const entry of readIntent(path)) {
      // A failed lookup ends the sweep (rejects): this intent stays for the next start.
      if (await deps.stores.files.getAnyOrg(entry.id)) continue;
      try {
        if (!(await deps.storage.stat(entry.key))) continue;
        await deps.storage.delete(entry.key);
        report.removedObjects++;
      } catch (err) {
        deps.log?.warn("could not remove an unclaimed stored file", { key: entry.key, error: String(err) });
      }
    }
    rmSync(path, { force: true });
    report.removedTemp++;
  }
  // S3: parts of uploads a crashed process (this one's predecessor, or another instance) never completed nor aborted.
  if (deps.storage.abortUploadsBefore) {
    try {
      report.abortedUploads = await deps.storage.abortUploadsBefore(staleBefore);
    } catch (err) {
      deps.log?.warn("could not abort stale multipart uploads", { storage: deps.storage.description, error: String(err) });
    }
  }
  if (report.removedTemp || report.removedObjects || report.abortedUploads)
    deps.log?.info("removed upload leftovers", {
      removed_temp: report.removedTemp,
      removed_objects: report.removedObjects,
      aborted_uploads: report.abortedUploads,
    });
  return report;
}
