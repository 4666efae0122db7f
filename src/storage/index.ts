// Picks the storage driver from the configuration (files in the data dir, or an S3-compatible bucket) and checks at start that it answers.
import { dataDirLayout, FILES_DIRNAME } from "./layout";
import { createLocalStorage } from "./local";
import { createS3Storage, type S3Storage } from "./s3";
import { parseStorageUrl } from "./s3-url";
import type { Storage } from "./storage";

export type { Storage } from "./storage";

/** The settings storage is chosen by (the Config fields of the same names; only `dataDir` is needed for files on disk). */
export interface StorageSettings {
  dataDir: string;
  /** `s3://bucket/prefix?…` for S3-compatible storage; "" or absent for files in the data dir. */
  storageUrl?: string;
  s3AccessKeyId?: string;
  s3SecretAccessKey?: string;
  s3SessionToken?: string;
}

/**
 * The configured storage driver: an S3-compatible bucket when `storageUrl` is set, else files in the data dir (bytes
 * under files/, uploads in progress in tmp/). Opening sends nothing: `checkStorage` asks the bucket. Throws (one line)
 * for settings loadConfig would have refused already: a bad URL, missing credentials, a stray session token.
 */
export function openStorage(config: StorageSettings): Storage {
  if (config.storageUrl) {
    const location = parseStorageUrl(config.storageUrl);
    if (!config.s3AccessKeyId || !config.s3SecretAccessKey) throw new Error("S3 storage needs an access key id and a secret access key");
    return createS3Storage({
      ...location,
      accessKeyId: config.s3AccessKeyId,
      secretAccessKey: config.s3SecretAccessKey,
      ...(config.s3SessionToken ? { sessionToken: config.s3SessionToken } : {}),
    });
  }
  const { files, tmp } = dataDirLayout(config.dataDir);
  return createLocalStorage({ root: files, tmpDir: tmp, label: FILES_DIRNAME });
}

/** How long start-up waits for the bucket's first answer. */
export const STORAGE_CHECK_TIMEOUT_MS = 10_000;

/**
 * Asks the storage whether it answers, for start-up: null when it does (always, for files in the data dir), else one
 * line naming the storage and what failed, never a credential. The caller turns it into its error (serve: exit 2).
 */
export async function checkStorage(storage: Storage, timeoutMs = STORAGE_CHECK_TIMEOUT_MS): Promise<string | null> {
  const s3 = storage as Partial<S3Storage>;
  let problem: string | null = null;
  if (typeof s3.probe === "function") problem = await s3.probe(timeoutMs);
  else if (typeof storage.check === "function") problem = (await storage.check(timeoutMs).catch(() => false)) ? null : "it does not answer";
  return problem === null ? null : `storage ${storage.description} is not reachable: ${problem}; check --storage-url and the S3 credentials`;
}

/**
 * openStorage, then checkStorage, for a command that needs its storage to answer before it starts (verify, backup,
 * restore). `fail` makes the error thrown when it does not (the CLI's ConfigError: one line, exit 2).
 */
export async function openReachableStorage(config: StorageSettings, fail: (message: string) => Error): Promise<Storage> {
  const storage = openStorage(config);
  const problem = await checkStorage(storage);
  if (problem) throw fail(problem);
  return storage;
}
