// Picks the storage driver from the configuration (where it keeps bytes on disk is storage/layout.ts).
import { dataDirLayout } from "./layout";
import { createLocalStorage } from "./local";
import type { Storage } from "./storage";

export type { Storage } from "./storage";

/** The configured storage driver. Only the filesystem driver exists today: bytes under files/, uploads in progress in tmp/. */
export function openStorage(config: { dataDir: string }): Storage {
  const { files, tmp } = dataDirLayout(config.dataDir);
  return createLocalStorage({ root: files, tmpDir: tmp });
}
