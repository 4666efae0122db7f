// Shared folders domain: create, list, read, rename/move (no cycles), delete (empty, or the whole subtree with its files' bytes).
import type { Config } from "../config";
import type { Writer } from "../db/writer";
import { ApiError, errors } from "../errors";
import type { Outbox } from "../events/outbox";
import { clearIntent, writeIntentSync, type Intent } from "../files/recovery";
import { removeStoredBytes, toFileEventData } from "../files/service";
import type { FileRow, FileStore } from "../files/store";
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
import { FolderNameTaken, parentKeyOf, type FolderRow, type FolderStore, type ParentFilter } from "./store";

/** What a folders unit of work is given: the stores bound to its transaction. */
export interface FoldersTx {
  folders: FolderStore;
  /** A recursive delete removes the subtree's file rows, each with its `file.deleted` event. */
  files: Pick<FileStore, "remove">;
  outbox: Outbox;
}

export interface FoldersDeps {
  /** For reads: committed rows only. */
  stores: { folders: FolderStore };
  /** Every change goes through it: committed with the other writes of its batch, answered after the fsync. */
  writer: Writer<FoldersTx>;
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

/** The store's sibling-name conflict (another write got there first) as the same 409 the check in the unit gives. */
function asNameTaken(err: unknown): never {
  throw err instanceof FolderNameTaken ? nameTaken(err.folderName) : err;
}

/** The parent a folder is created or moved under: null at the top level, else one of the organization's folders (404). */
async function requireParent(store: FolderStore, orgId: string, parentId: string | null | undefined): Promise<string | null> {
  if (parentId == null) return null;
  if (!(await store.get(parentId, orgId))) throw errors.notFound("Parent folder");
  return parentId;
}

export async function listFolders(deps: Pick<FoldersDeps, "stores">, orgId: string, q: { parent_id?: string } & PageQuery): Promise<FolderList> {
  const parent: ParentFilter = q.parent_id === undefined ? undefined : q.parent_id === "root" ? null : q.parent_id;
  const store = deps.stores.folders;
  return offsetPage(q, await store.total(orgId, parent), (limit, offset) => store.page(orgId, parent, limit, offset), toFolder);
}

export async function getFolder(deps: Pick<FoldersDeps, "stores">, orgId: string, id: string): Promise<Folder> {
  const row = await deps.stores.folders.get(id, orgId);
  if (!row) throw errors.notFound("Folder");
  return toFolder(row);
}

export function createFolder(deps: Pick<FoldersDeps, "clock" | "writer">, actor: Actor, input: CreateFolder): Promise<Folder> {
  const name = cleanFolderName(input.name);
  const now = deps.clock.now();
  return deps.writer.write(async (tx) => {
    const parentId = await requireParent(tx.folders, actor.orgId, input.parent_id);
    if (await tx.folders.siblingNamed(actor.orgId, parentId, name)) throw nameTaken(name);
    const row: FolderRow = {
      id: newId("fld"),
      org_id: actor.orgId,
      parent_id: parentId,
      parent_key: parentKeyOf(parentId),
      name,
      created_at: now,
      updated_at: now,
    };
    await tx.folders.insert(row).catch(asNameTaken);
    return toFolder(row);
  });
}

/** Renames and/or moves a folder. A move under itself or one of its descendants is a 400; a name taken by a new sibling a 409. */
export function updateFolder(deps: Pick<FoldersDeps, "clock" | "writer">, actor: Actor, id: string, input: UpdateFolder): Promise<Folder> {
  const newName = input.name === undefined ? undefined : cleanFolderName(input.name);
  // Read and written in one unit of the writer: no other write can come between.
  return deps.writer.write(async (tx) => {
    const store = tx.folders;
    const before = await store.get(id, actor.orgId);
    if (!before) throw errors.notFound("Folder");
    const parentId = input.parent_id === undefined ? before.parent_id : await requireParent(store, actor.orgId, input.parent_id);
    if (parentId !== null && parentId !== before.parent_id && (await store.isInSubtreeOf(parentId, id, actor.orgId))) {
      throw errors.validation(
        [{ field: "parent_id", message: "must not be the folder itself or a folder inside it." }],
        "A folder cannot be moved into itself or one of its sub-folders.",
      );
    }
    const name = newName ?? before.name;
    if (name === before.name && parentId === before.parent_id) return toFolder(before);
    const clash = await store.siblingNamed(actor.orgId, parentId, name);
    if (clash && clash !== id) throw nameTaken(name);
    const after: FolderRow = {
      ...before,
      name,
      parent_id: parentId,
      parent_key: parentKeyOf(parentId),
      updated_at: Math.max(deps.clock.now(), before.updated_at),
    };
    await store.update(after).catch(asNameTaken);
    return toFolder(after);
  });
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
  const tmpDir = dataDirLayout(deps.config.dataDir).tmp;
  let intent: Intent | null = null;
  let files: FileRow[] = [];
  try {
    await deps.writer.write(async (tx) => {
      const store = tx.folders;
      const folder = await store.get(id, actor.orgId);
      if (!folder) throw errors.notFound("Folder");
      if (!recursive) {
        if (!(await store.isEmpty(id, actor.orgId))) throw folderNotEmpty();
        await store.remove(id, actor.orgId);
        return;
      }
      const subtree = await store.subtree(id, actor.orgId);
      files = await store.subtreeFiles(id, actor.orgId);
      // Durable before the rows go, so bytes of committed deletions are never orphaned by a crash. Synchronous: the
      // unit awaits nothing but its stores.
      if (files.length)
        intent = writeIntentSync(
          tmpDir,
          files.map((f) => ({ id: f.id, key: f.storage_key })),
        );
      const now = deps.clock.now();
      for (const f of files) {
        if (await tx.files.remove(f.id, f.org_id)) await tx.outbox.record({ type: "file.deleted", orgId: f.org_id, data: toFileEventData(f) }, now);
      }
      for (const f of subtree) await store.remove(f.id, actor.orgId);
    });
  } catch (err) {
    // Nothing was deleted: the intent (if written) names files whose rows still exist.
    if (intent) await clearIntent(intent).catch(() => {});
    throw err;
  }
  if (files.length && (await removeStoredBytes(deps, files)) && intent) await clearIntent(intent).catch(() => {});
}
