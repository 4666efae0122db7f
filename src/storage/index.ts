// Picks the storage driver from the configuration; the one place that knows where bytes live on disk.
import { join } from "node:path";
import { createLocalStorage } from "./local";
import type { Storage } from "./storage";

export type { Storage } from "./storage";

/**
 * Where the local driver keeps stored bytes (`<dataDir>/files/<org_id>/<file_id>`) and in-progress
 * uploads (`<dataDir>/tmp/`, the same filesystem, so the final rename is atomic).
 */
export function storagePaths(dataDir: string): { root: string; tmpDir: string } {
  return { root: join(dataDir, "files"), tmpDir: join(dataDir, "tmp") };
}

/** The configured storage driver. Only the filesystem driver exists today. */
export function openStorage(config: { dataDir: string }): Storage {
  return createLocalStorage(storagePaths(config.dataDir));
}
