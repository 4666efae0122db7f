// Shared folders domain: create, list, read, rename/move (no cycles), delete (empty, or the whole subtree with its files' bytes).
import type { Config } from "../config";
import type { Db } from "../db/client";
import type { Writer } from "../db/writer";
import { ApiError, errors } from "../errors";
import { clearIntent, writeIntentSync, type Intent } from "../files/recovery";
import { removeFileRows, removeStoredBytes } from "../files/service";
import type { FileRow } from "../files/store";
import type { Actor } from "../keys/principal";
import type { Clock } from "../lib/clock";
import { newId } from "../lib/ids";
import { textProblem } from "../lib/text";
import type { Logger } from "../lib/log";
import { offsetPage, type PageQuery } from "../lib/pagination";
import { toIso } from "../lib/time";
import { dataDirLayout } from "../storage/layout";
import type { Storage } from "../storage/storage";
import { FOLDER_NAME_RULE, type CreateFolder, type Folder, type FolderList, type UpdateFolder } from "./model";
import { folderStore, parentKeyOf, type FolderRow, type ParentFilter } from "./store";

export interface FoldersDeps {
  db: Db;
  /** Every change goes through it (group commit). */
  writer: Writer;
  clock: Clock;
  config: Pick<Config, "dataDir">;
  storage: Storage;
  log?: Logger;
}

export function toFolder(r: FolderRow): Folder {
  return { id: r.id, name: r.name, parent_id: r.parent_id, created_at: toIso(r.created_at), updated_at: toIso(r.updated_at) };
}

/** Single-line text (trimmed; 1–255 characters, not blank, no control characters; src/lib/text.ts), and no `/`. */
export function cleanFolderName(raw: string): string {
  const bad = (message: string) => errors.validation([{ field: "name", message }]);
  const problem = textProblem(raw, FOLDER_NAME_RULE);
  if (problem) throw bad(problem);
  const name = raw.trim();
  if (name.includes("/")) throw bad("must not contain /.");
  return name;
}

const nameTaken = (name: string) => errors.conflict(`A folder named "${name}" already exists here.`);

function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string })?.code === "SQLITE_CONSTRAINT_UNIQUE";
}

function requireParent(deps: Pick<FoldersDeps, "db">, orgId: string, parentId: string | null | undefined): string | null {
  if (parentId == null) return null;
  if (!folderStore(deps.db.$client).get(parentId, orgId)) throw errors.notFound("Parent folder");
  return parentId;
}

export function listFolders(deps: Pick<FoldersDeps, "db">, orgId: string, q: { parent_id?: string } & PageQuery): FolderList {
  const parent: ParentFilter = q.parent_id === undefined ? undefined : q.parent_id === "root" ? null : q.parent_id;
  const store = folderStore(deps.db.$client);
  return offsetPage(q, store.total(orgId, parent), (limit, offset) => store.page(orgId, parent, limit, offset), toFolder);
}

export function getFolder(deps: Pick<FoldersDeps, "db">, orgId: string, id: string): Folder {
  const row = folderStore(deps.db.$client).get(id, orgId);
  if (!row) throw errors.notFound("Folder");
  return toFolder(row);
}

export async function createFolder(deps: Pick<FoldersDeps, "db" | "clock" | "writer">, actor: Actor, input: CreateFolder): Promise<Folder> {
  const name = cleanFolderName(input.name);
  const sqlite = deps.db.$client;
  const store = folderStore(sqlite);
  const now = deps.clock.now();
  try {
    return await deps.writer.write(() => {
      const parentId = requireParent(deps, actor.orgId, input.parent_id);
      if (store.siblingNamed(actor.orgId, parentId, name)) throw nameTaken(name);
      const row: FolderRow = {
        id: newId("fld"),
        org_id: actor.orgId,
        parent_id: parentId,
        parent_key: parentKeyOf(parentId),
        name,
        created_at: now,
        updated_at: now,
      };
      store.insert(row);
      return toFolder(row);
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw nameTaken(name);
    throw err;
  }
}

/** Renames and/or moves a folder. A move under itself or one of its descendants is a 400; a name taken by a new sibling a 409. */
export async function updateFolder(deps: Pick<FoldersDeps, "db" | "clock" | "writer">, actor: Actor, id: string, input: UpdateFolder): Promise<Folder> {
  const newName = input.name === undefined ? undefined : cleanFolderName(input.name);
  const sqlite = deps.db.$client;
  const store = folderStore(sqlite);
  try {
    return await deps.writer.write(() => {
      const before = store.get(id, actor.orgId);
      if (!before) throw errors.notFound("Folder");
      const parentId = input.parent_id === undefined ? before.parent_id : requireParent(deps, actor.orgId, input.parent_id);
      if (parentId !== null && parentId !== before.parent_id && store.isInSubtreeOf(parentId, id)) {
        throw errors.validation(
          [{ field: "parent_id", message: "must not be the folder itself or a folder inside it." }],
          "A folder cannot be moved into itself or one of its sub-folders.",
        );
      }
      const name = newName ?? before.name;
      if (name === before.name && parentId === before.parent_id) return toFolder(before);
      const clash = store.siblingNamed(actor.orgId, parentId, name);
      if (clash && clash !== id) throw nameTaken(name);
      const after: FolderRow = {
        ...before,
        name,
        parent_id: parentId,
        parent_key: parentKeyOf(parentId),
        updated_at: Math.max(deps.clock.now(), before.updated_at),
      };
      store.update(after);
      return toFolder(after);
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw nameTaken(newName ?? "");
    throw err;
  }
}

export const folderNotEmpty = () =>
  new ApiError(409, "folder_not_empty", "The folder still holds files or folders. Delete them first, or pass ?recursive=true to delete everything inside.");

/**
 * Deletes a folder. Without `recursive` it must be empty (409 folder_not_empty). With it, the whole
 * subtree goes in one transaction: file rows (each with a `file.deleted` event), then folders
 * deepest first; the files' bytes are removed after the commit, under an intent so a crash in
 * between is finished at the next start.
 */
export async function deleteFolder(deps: FoldersDeps, actor: Actor, id: string, recursive: boolean): Promise<void> {
  const sqlite = deps.db.$client;
  const store = folderStore(sqlite);
  const tmpDir = dataDirLayout(deps.config.dataDir).tmp;
  let intent: Intent | null = null;
  let files: FileRow[] = [];
  try {
    await deps.writer.write(() => {
      const folder = store.get(id, actor.orgId);
      if (!folder) throw errors.notFound("Folder");
      if (!recursive) {
        if (!store.isEmpty(id)) throw folderNotEmpty();
        store.remove(id, actor.orgId);
        return;
      }
      const subtree = store.subtree(id, actor.orgId);
      files = store.subtreeFiles(id, actor.orgId);
      // Durable before the rows go, so bytes of committed deletions are never orphaned by a crash.
      if (files.length)
        intent = writeIntentSync(
          tmpDir,
          files.map((f) => ({ id: f.id, key: f.storage_key })),
        );
      removeFileRows(sqlite, files, deps.clock.now());
      for (const f of subtree) store.remove(f.id, actor.orgId);
    });
  } catch (err) {
    // Nothing was deleted: the intent (if written) names files whose rows still exist.
    if (intent) await clearIntent(intent).catch(() => {});
    throw err;
  }
  if (files.length && (await removeStoredBytes(deps, files)) && intent) await clearIntent(intent).catch(() => {});
}
