// The data dir's exclusive lock: one process serves (or migrates) a data dir at a time; the kernel drops it when that process dies.
import { Database } from "bun:sqlite";
import { closeSync, existsSync, openSync, readSync } from "node:fs";
import { dataDirLayout } from "../storage/layout";
import { InUseError } from "./errors";

export interface DataDirLock {
  path: string;
  /** Releases the lock (closing the connection); the file stays, so no other process can lock a deleted inode. */
  release(): void;
}

export function lockPath(dataDir: string): string {
  return dataDirLayout(dataDir).lock;
}

/**
 * The holder's pid, read from the lock database's header (`PRAGMA user_version`, bytes 60–63, big-endian)
 * with a plain read: the lock is a POSIX advisory lock, so reading the bytes is never blocked.
 */
function readHolderPid(path: string): number | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const buf = Buffer.alloc(4);
    if (readSync(fd, buf, 0, 4, 60) !== 4) return undefined;
    const pid = buf.readUInt32BE(0);
    return pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? "";
  return code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED");
}

/**
 * Takes the data dir's lock or throws InUseError naming the holder. The lock is a tiny SQLite database
 * (`serve.lock`) in exclusive locking mode with a committed write: SQLite then keeps its POSIX (fcntl)
 * lock until the connection closes, and the kernel releases it when the process exits, SIGKILL included.
 * A PID file alone could not tell a live holder from a stale one. `purpose` words the refusal.
 */
export function acquireDataDirLock(dataDir: string, purpose: "serve" | "migrate"): DataDirLock {
  const path = lockPath(dataDir);
  const db = new Database(path, { create: true, strict: true });
  try {
    db.exec("PRAGMA busy_timeout = 0");
    db.exec("PRAGMA locking_mode = EXCLUSIVE");
    // No journal file beside the lock: there is nothing in it worth a rollback.
    db.exec("PRAGMA journal_mode = MEMORY");
    // The write makes SQLite take (and, in exclusive mode, keep) the EXCLUSIVE lock; user_version carries our pid.
    db.exec(`PRAGMA user_version = ${process.pid}`);
  } catch (err) {
    db.close();
    if (!isBusy(err)) throw err;
    const pid = readHolderPid(path);
    const holder = pid ? `another Client Cove process (pid ${pid})` : "another Client Cove process";
    throw new InUseError(
      purpose === "serve"
        ? `data dir ${dataDir} is already in use by ${holder}; a data dir is served by one process at a time`
        : `data dir ${dataDir} is in use by ${holder}; stop the server first (serve applies pending migrations itself when it starts)`,
    );
  }
  let released = false;
  return {
    path,
    release() {
      if (released) return;
      released = true;
      db.close();
    },
  };
}

/** The pid holding the data dir's lock, `0` when held by a process whose pid is unknown, or null when free. Takes and drops the lock to find out. */
export function dataDirLockHolder(dataDir: string): number | null {
  // No lock file: nobody ever served this dir (and checking must not create one, e.g. in restore's empty target).
  if (!existsSync(lockPath(dataDir))) return null;
  try {
    acquireDataDirLock(dataDir, "serve").release();
    return null;
  } catch (err) {
    if (!(err instanceof InUseError)) throw err;
    return readHolderPid(lockPath(dataDir)) ?? 0;
  }
}
