// The backup manifest: what a backup archive holds, checked member by member on restore.
import { COUNTED_TABLES, type DataCounts } from "./stats-store";

export const MANIFEST_NAME = "manifest.json";
export const DATABASE_MEMBER = "clientcove.db";
export const BACKUP_FORMAT = "clientcove-backup";
export const BACKUP_FORMAT_VERSION = 1;

export interface ManifestMember {
  path: string;
  size: number;
  sha256: string;
}

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  format_version: typeof BACKUP_FORMAT_VERSION;
  /** The executable that wrote the backup. */
  version: string;
  commit: string;
  schema_version: number;
  created_at: string;
  counts: DataCounts;
  stored_bytes: number;
  /** Every member except the manifest itself, in archive order. */
  members: ManifestMember[];
  /** Problems of the source found while backing up (the backup is faithful to them), e.g. a file row whose bytes were missing. */
  warnings: string[];
}

/** Parses and shape-checks a manifest; null when it is not one of ours. */
export function parseManifest(text: string): BackupManifest | null {
  let m: any;
  try {
    m = JSON.parse(text);
  } catch {
    return null;
  }
  if (!m || m.format !== BACKUP_FORMAT || typeof m.format_version !== "number") return null;
  if (!Number.isInteger(m.schema_version) || !Array.isArray(m.members) || !m.counts || typeof m.counts !== "object") return null;
  for (const key of Object.keys(COUNTED_TABLES)) if (!Number.isInteger(m.counts[key])) return null;
  for (const x of m.members) {
    if (!x || typeof x.path !== "string" || !Number.isSafeInteger(x.size) || typeof x.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(x.sha256)) return null;
  }
  return m as BackupManifest;
}
