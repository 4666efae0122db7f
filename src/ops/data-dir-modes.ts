// Private modes for the data dir: 0700 directories and 0600 files, for new data dirs and (tightened at start) old ones.
import { chmodSync, lstatSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { isLayoutEntry } from "../storage/layout";

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;

/**
 * Everything the process creates is private: the database holds webhook secrets, stored replies and key
 * hashes. SQLite creates its files 0644 minus the umask (and -wal/-shm like the main file), storage and
 * temp files follow the umask too, so the umask is the one setting that covers all of them, whatever the
 * umask the process was started with.
 */
export function usePrivateUmask(): void {
  process.umask(0o077);
}

/** chmod to `mode` when group/other bits are set; returns 1 if it changed something. Never follows symlinks. */
function tighten(path: string, dirOrFile: "dir" | "file"): number {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st || st.isSymbolicLink()) return 0;
  if (dirOrFile === "dir" ? !st.isDirectory() : !st.isFile()) return 0;
  if ((st.mode & 0o077) === 0) return 0;
  chmodSync(path, dirOrFile === "dir" ? DIR_MODE : FILE_MODE);
  return 1;
}

function tightenTree(path: string): number {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st || st.isSymbolicLink()) return 0;
  if (st.isFile()) return tighten(path, "file");
  if (!st.isDirectory()) return 0;
  let changed = tighten(path, "dir");
  for (const name of readdirSync(path)) changed += tightenTree(join(path, name));
  return changed;
}

/**
 * Creates `dir` 0700 if needed and tightens an existing one: the directory itself (only when it is ours:
 * owned by this user and not a shared sticky directory such as /tmp) and, recursively, the entries of the
 * data-dir layout (database files, lock, signing key, files/, tmp/: storage/layout.ts); anything else is left as it is. Returns how many modes it changed.
 */
export function securePrivateDataDir(dir: string): number {
  mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  let changed = 0;
  const st = statSync(dir);
  const mine = typeof process.getuid !== "function" || st.uid === process.getuid();
  const sticky = (st.mode & 0o1000) !== 0;
  if (mine && !sticky && (st.mode & 0o077) !== 0) {
    chmodSync(dir, DIR_MODE);
    changed++;
  }
  for (const name of readdirSync(dir)) if (isLayoutEntry(name)) changed += tightenTree(join(dir, name));
  return changed;
}
