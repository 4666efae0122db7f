// Files domain: streamed all-or-nothing uploads, metadata reads and lists, deletes; every change with its outbox event in one transaction.
import type { Config } from "../config";
import type { Writer } from "../db/writer";
import { ApiError, errors } from "../errors";
import type { Outbox } from "../events/outbox";
import { formatBytes } from "../lib/format-bytes";
import type { Actor } from "../keys/principal";
import type { Clock } from "../lib/clock";
import { newId } from "../lib/ids";
import type { Logger } from "../lib/log";
import { offsetPage, type PageQuery } from "../lib/pagination";
import { toIso } from "../lib/time";
import { dataDirLayout, storageKeyOf } from "../storage/layout";
import type { Storage } from "../storage/storage";
import { cleanFilename } from "./filename";
import { detectMimeType, SNIFF_BYTES } from "./mime";
import type { FileList, FileMeta } from "./model";
import { readUpload } from "./multipart";
import { clearIntent, writeIntent, type Intent } from "./recovery";
import type { DownloadSigner } from "./signed-url";
import type { FileFilter, FileRow, FileStore } from "./store";

/** What a files unit of work is given: the stores bound to its transaction. */
export interface FilesTx {
  files: FileStore;
  outbox: Outbox;
}

export interface FilesDeps {
  /** For reads: committed rows only. */
  stores: { files: FileStore };
  /** Every change goes through it (group commit): committed with the other writes of its batch, answered after the fsync. */
  writer: Writer<FilesTx>;
  clock: Clock;
  config: Pick<Config, "dataDir" | "maxUploadBytes" | "publicUrl" | "uploadIdleTimeoutMs">;
  storage: Storage;
  signer: DownloadSigner;
  log?: Logger;
}

/** Room for the multipart framing and the small fields around the file, on top of the file size limit. */
export const MULTIPART_OVERHEAD_BYTES = 64 * 1024;
const UPLOAD_FIELDS = ["folder_id", "ticket_id"] as const;

/** The API URL of a file's metadata (the Location of a 201). */
export function fileLocation(publicUrl: string, fileId: string): string {
  return `${publicUrl}/v1/files/${fileId}`;
}

/** The file as events carry it: the API shape without download_url (a link that grants access and expires). */
export function toFileEventData(r: FileRow): Omit<FileMeta, "download_url"> {
  return {
    id: r.id,
    filename: r.filename,
    size_bytes: r.size_bytes,
    mime_type: r.mime_type,
    folder_id: r.folder_id,
    ticket_id: r.ticket_id,
    sha256: r.sha256,
    uploaded_at: toIso(r.uploaded_at),
  };
}

/** The file as the API returns it, with a freshly signed download_url. */
export function toFileMeta(deps: Pick<FilesDeps, "signer" | "clock">, r: FileRow): FileMeta {
  return { ...toFileEventData(r), download_url: deps.signer.url(r.id, r.filename, deps.clock.now()) };
}

function uploadTooLarge(limit: number): ApiError {
  return errors.payloadTooLarge(`The file is too large; the upload limit is ${formatBytes(limit, "exact")}`);
}

/** Maps what can go wrong below HTTP during an upload to what the client should see. */
function uploadFailure(err: unknown): unknown {
  if (err instanceof ApiError) return err;
  const e = err as { name?: string; code?: string };
  if (e?.name === "AbortError")
    return new ApiError(400, "upload_aborted", "The connection closed before the upload was complete; nothing was stored.", undefined, undefined, err);
  if (e?.code === "ENOSPC" || e?.code === "EDQUOT")
    return new ApiError(507, "insufficient_storage", "The server has no room to store this file; nothing was stored.", undefined, undefined, err);
  return err;
}

/** The client sent nothing for the idle timeout: answered (and the connection closed) so a stalled upload holds nothing. */
function uploadTimedOut(idleMs: number): ApiError {
  const wait = idleMs % 1000 === 0 ? `${idleMs / 1000} s` : `${idleMs} ms`;
  return new ApiError(408, "upload_timeout", `No bytes of the upload arrived for ${wait}; nothing was stored. Send the file again.`, undefined, {
    connection: "close",
  });
}

/** How long a client should wait before retrying an upload refused for too many in flight. */
export const UPLOAD_RETRY_AFTER_SECONDS = 5;

/**
 * Bounds the uploads each API key has in flight: each holds a socket, a temp file and an intent until it
 * ends, so without a bound one key could keep any number open (a trickling client never finishes).
 */
export function createUploadSlots(maxPerKey: number) {
  const inFlight = new Map<string, number>();
  return {
    /** Takes a slot for `keyId` or throws 429 too_many_uploads; call the returned function exactly once when the upload ends. */
    acquire(keyId: string): () => void {
      const n = inFlight.get(keyId) ?? 0;
      if (n >= maxPerKey) {
        throw new ApiError(
          429,
          "too_many_uploads",
          `This API key already has ${maxPerKey} uploads in progress, the most allowed at once. Retry when one has finished.`,
          undefined,
          // The body is left unread: closing the connection spares the server reading (and the client sending) it.
          { "retry-after": String(UPLOAD_RETRY_AFTER_SECONDS), connection: "close" },
        );
      }
      inFlight.set(keyId, n + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const left = (inFlight.get(keyId) ?? 1) - 1;
        if (left > 0) inFlight.set(keyId, left);
        else inFlight.delete(keyId);
      };
    },
  };
}

export type UploadSlots = ReturnType<typeof createUploadSlots>;

/** An upload's `folder_id` or `ticket_id` must name one of the organization's folders or tickets (404 otherwise). */
async function checkReference(store: FileStore, orgId: string, field: string, value: string): Promise<void> {
  if (value === "") throw errors.validation([{ field, message: "must not be empty; leave the field out instead." }]);
  if (field === "folder_id" && !(await store.folderExists(value, orgId))) throw errors.notFound("Folder");
  if (field === "ticket_id" && !(await store.ticketExists(value, orgId))) throw errors.notFound("Ticket");
}

export interface UploadRequest {
  body: ReadableStream<Uint8Array> | null;
  contentType: string | null;
  contentLength: string | null;
}

/**
 * How an upload meets its Idempotency-Key (the idempotency plugin provides it, and claimed the key before a byte was
 * read). What makes two uploads the same is known only once the body is read.
 */
export interface UploadIdempotency {
  /** The body is read: "answered" if an identical upload was answered before (replay it); other content throws 422. */
  identify(content: { filename: string; size_bytes: number; sha256: string; folder_id?: string; ticket_id?: string }): Promise<"new" | "answered">;
  /** Runs the change (row and event) with a writer whose unit also stores the answer. */
  commit(change: (writer: Writer<FilesTx>) => Promise<FileMeta>): Promise<FileMeta>;
}

export type UploadResult = { kind: "created"; file: FileMeta } | { kind: "answered" };

interface StoredContent {
  filename: string;
  size: number;
  sha256: string;
  head: Uint8Array;
}

/**
 * Stores an uploaded file, all or nothing. The `file` part streams through a hash and a size count
 * into storage (temp file, fsync, rename); the row and its `file.uploaded` event are committed in one
 * transaction only after the bytes are durable. Any failure (limit, bad field, disconnect, stall, full disk)
 * removes the bytes before the error is thrown; a crash is settled at the next start (recovery.ts).
 */
export async function uploadFile(deps: FilesDeps, actor: Actor, req: UploadRequest, idempotency?: UploadIdempotency): Promise<UploadResult> {
  const contentType = req.contentType ?? "";
  if (!/^multipart\/form-data\s*(;|$)/i.test(contentType)) throw errors.unsupportedMediaType("multipart/form-data");
  const limit = deps.config.maxUploadBytes;
  const maxBodyBytes = limit + MULTIPART_OVERHEAD_BYTES;
  // Decided before reading a byte when the client says how much is coming.
  if (req.contentLength !== null && /^\d+$/.test(req.contentLength) && Number(req.contentLength) > maxBodyBytes) throw uploadTooLarge(limit);

  const id = newId("file");
  const key = storageKeyOf(actor.orgId, id);
  const tmpDir = dataDirLayout(deps.config.dataDir).tmp;
  let intent: Intent | null = null;
  let committed = false;
  try {
    const { fields, file } = await readUpload<StoredContent>(req.body, contentType, {
      fields: UPLOAD_FIELDS,
      limits: {
        maxBodyBytes,
        tooLarge: () => uploadTooLarge(limit),
        maxFields: 4,
        maxFieldBytes: 1024,
        idleTimeoutMs: deps.config.uploadIdleTimeoutMs,
        idle: () => uploadTimedOut(deps.config.uploadIdleTimeoutMs),
      },
      // Fields sent before the file are checked at once, so a wrong folder fails before the upload.
      onField: (name, value) => checkReference(deps.stores.files, actor.orgId, name, value),
      async onFile(part, signal) {
        intent = await writeIntent(tmpDir, [{ id, key }]);
        const hasher = new Bun.CryptoHasher("sha256");
        const head = new Uint8Array(SNIFF_BYTES);
        let headLength = 0;
        let size = 0;
        async function* counted(): AsyncGenerator<Uint8Array> {
          for await (const chunk of part.stream as AsyncIterable<Uint8Array>) {
            if (signal.aborted) throw signal.reason;
            size += chunk.byteLength;
            if (size > limit) throw uploadTooLarge(limit);
            hasher.update(chunk);
            if (headLength < SNIFF_BYTES) {
              const take = chunk.subarray(0, SNIFF_BYTES - headLength);
              head.set(take, headLength);
              headLength += take.byteLength;
            }
            yield chunk;
          }
        }
        await deps.storage.put(key, counted());
        return { filename: cleanFilename(part.filename), size, sha256: hasher.digest("hex"), head: head.subarray(0, headLength) };
      },
    });

    // A retry of an upload already answered replays that answer (this copy of the bytes goes, in `finally`).
    if ((await idempotency?.identify({ ...fields, filename: file.filename, size_bytes: file.size, sha256: file.sha256 })) === "answered")
      return { kind: "answered" };
    const now = deps.clock.now();
    const row: FileRow = {
      id,
      org_id: actor.orgId,
      folder_id: fields.folder_id ?? null,
      ticket_id: fields.ticket_id ?? null,
      filename: file.filename,
      size_bytes: file.size,
      mime_type: detectMimeType(file.head, file.filename),
      sha256: file.sha256,
      storage_key: key,
      uploaded_by: actor.userId,
      uploaded_at: now,
    };
    const meta = toFileMeta(deps, row);
    // The bytes are durable already: the unit only checks and writes rows (it must not await storage).
    const change = (writer: Writer<FilesTx>) =>
      writer.write(async (tx) => {
        // Checked again here: the folder or ticket may have been deleted while the bytes streamed in.
        for (const field of UPLOAD_FIELDS) if (fields[field] !== undefined) await checkReference(tx.files, actor.orgId, field, fields[field]!);
        await tx.files.insert(row);
        await tx.outbox.record({ type: "file.uploaded", orgId: actor.orgId, data: toFileEventData(row) }, now);
        return meta;
      });
    // With a key, the answer commits with the row: a crash between two commits would leave the file stored but its key
    // unanswered, and the start-up sweep would release the key, so the client's retry would store a second copy.
    if (idempotency) await idempotency.commit(change);
    else await change(deps.writer);
    committed = true;
    return { kind: "created", file: meta };
  } catch (err) {
    // The key of a failed upload is released by the idempotency plugin, once this has cleaned up.
    throw uploadFailure(err);
  } finally {
    if (intent) {
      if (!committed) await deps.storage.delete(key).catch((e) => deps.log?.warn("could not remove a failed upload", { key, error: String(e) }));
      await clearIntent(intent).catch(() => {});
    }
  }
}

export async function getFile(deps: Pick<FilesDeps, "stores" | "signer" | "clock">, orgId: string, id: string): Promise<FileMeta> {
  return toFileMeta(deps, await getFileRow(deps, orgId, id));
}

/** The row of one of the organization's files, or a 404. */
export async function getFileRow(deps: Pick<FilesDeps, "stores">, orgId: string, id: string): Promise<FileRow> {
  const row = await deps.stores.files.get(id, orgId);
  if (!row) throw errors.notFound("File");
  return row;
}

/** A file by id alone, for signed links (the caller has verified the signature first), or a 404. */
export async function getFileRowForLink(deps: Pick<FilesDeps, "stores">, id: string): Promise<FileRow> {
  const row = await deps.stores.files.getAnyOrg(id);
  if (!row) throw errors.notFound("File");
  return row;
}

export async function listFiles(
  deps: Pick<FilesDeps, "stores" | "signer" | "clock">,
  orgId: string,
  q: { folder_id?: string; ticket_id?: string } & PageQuery,
): Promise<FileList> {
  const filter: FileFilter = {};
  if (q.folder_id !== undefined) filter.folderId = q.folder_id === "root" ? null : q.folder_id;
  if (q.ticket_id !== undefined) filter.ticketId = q.ticket_id;
  const store = deps.stores.files;
  return offsetPage(
    q,
    await store.total(orgId, filter),
    (limit, offset) => store.page(orgId, filter, limit, offset),
    (r) => toFileMeta(deps, r),
  );
}

/**
 * Deletes file rows with their `file.deleted` events (an event only for a row that was there). Call inside a writer
 * unit, with its `tx`, after an intent naming these files is durable; remove the bytes (removeStoredBytes) after the
 * commit.
 */
export async function removeFileRows(tx: { files: Pick<FileStore, "remove">; outbox: Outbox }, rows: FileRow[], now: number): Promise<void> {
  for (const r of rows) {
    if (await tx.files.remove(r.id, r.org_id)) await tx.outbox.record({ type: "file.deleted", orgId: r.org_id, data: toFileEventData(r) }, now);
  }
}

/** Removes bytes whose rows are gone. A failure is logged, not thrown: the intent lets the next start retry. */
export async function removeStoredBytes(deps: Pick<FilesDeps, "storage" | "log">, rows: FileRow[]): Promise<boolean> {
  let ok = true;
  for (const r of rows) {
    try {
      await deps.storage.delete(r.storage_key);
    } catch (err) {
      ok = false;
      deps.log?.warn("could not remove stored file", { key: r.storage_key, error: String(err) });
    }
  }
  return ok;
}

export async function deleteFile(deps: FilesDeps, actor: Actor, id: string): Promise<void> {
  const row = await getFileRow(deps, actor.orgId, id);
  const intent = await writeIntent(dataDirLayout(deps.config.dataDir).tmp, [{ id: row.id, key: row.storage_key }]);
  let clear = true;
  try {
    // Read again in the unit: a concurrent delete may have taken the row since.
    const removed = await deps.writer.write(async (tx) => {
      const current = await tx.files.get(id, actor.orgId);
      if (!current) return null;
      await removeFileRows(tx, [current], deps.clock.now());
      return current;
    });
    if (!removed) throw errors.notFound("File");
    clear = await removeStoredBytes(deps, [removed]);
  } finally {
    if (clear) await clearIntent(intent).catch(() => {});
  }
}
