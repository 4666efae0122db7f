// The storage interface (put a stream, open a range, read, stat, list, delete): all that services and ops see of where bytes live, on disk or in an S3 bucket.
import { isValidStorageKey } from "./layout";

export interface ObjectStat {
  size: number;
  /** Milliseconds since the epoch. */
  modifiedAt: number;
}

/** An inclusive byte range, as in HTTP: `start`..`end` are both served. */
export interface ByteRange {
  start: number;
  end: number;
}

export type ByteSource = AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>;

/** An object as listed: its key as `put` takes it, its size and modification time. */
export interface ListedObject {
  key: string;
  size: number;
  modifiedAt: number;
}

/** An object opened for one sequential read of all its bytes (backup, verify). */
export interface ObjectRead {
  size: number;
  /** The bytes, once; must be read to the end or returned (`break` in a `for await`), which releases what it holds. */
  body: AsyncIterable<Uint8Array>;
}

export interface Storage {
  /** "local" (files in the data dir) or "s3" (an S3-compatible bucket). */
  readonly kind: "local" | "s3";
  /** Where the objects live, for messages (never credentials): `files/ in <data dir>`, `s3://bucket/prefix`. */
  readonly description: string;
  /**
   * Streams `source` to `key`, all or nothing: when the promise resolves the bytes are durable and
   * visible at `key`; when it rejects (the source threw, the disk filled) nothing is at `key` and no
   * temporary data is left. An existing object at `key` is replaced.
   */
  put(key: string, source: ByteSource): Promise<ObjectStat>;
  /**
   * The object's bytes (or one range of them) as a lazily read Blob: nothing is read until the
   * Blob is streamed, so a Response can send it without buffering. Rejects with NotFoundInStorage.
   * An S3 object's Blob must be sent as `blob.stream()` (Bun answers a Response whose body is one with a redirect).
   */
  open(key: string, range?: ByteRange): Promise<Blob>;
  /**
   * Opens the whole object for reading now, or null when nothing is stored at `key`. Once it resolves, the bytes
   * stay readable to the end even if the object is deleted meanwhile (an open file; an S3 GET under way).
   */
  read(key: string): Promise<ObjectRead | null>;
  /** Size and modification time, or null when nothing is stored at `key`. */
  stat(key: string): Promise<ObjectStat | null>;
  /** Removes the object; removing a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** Where the object of `key` is, for messages: `files/<key>` in the data dir, `s3://bucket/prefix/<key>`. */
  locate(key: string): string;
  /**
   * Every stored object (optionally only keys starting with `prefix`), keys as `put` takes them, in key order. What
   * is stored but is not a valid key (a stray file under files/) is listed too, under its relative path, for verify.
   */
  list?(prefix?: string): AsyncIterable<ListedObject>;
  /**
   * Removes the unfinished multipart uploads begun before `before` (ms since the epoch), a crash's leftovers; returns
   * how many. Only storage that keeps such uploads has it (S3); later ones may belong to uploads still running.
   */
  abortUploadsBefore?(before: number): Promise<number>;
  /** The unfinished multipart uploads (verify lists them). Only storage that keeps such uploads has it (S3). */
  pendingUploads?(): Promise<PendingUpload[]>;
  /** A cheap request to the storage: true when it answers, false otherwise; never throws. Only remote storage has it (S3). */
  check?(timeoutMs?: number): Promise<boolean>;
}

/** Thrown by `open` when nothing is stored at the key. */
export class NotFoundInStorage extends Error {
  override name = "NotFoundInStorage";
  constructor(readonly key: string) {
    super(`nothing stored at ${key}`);
  }
}

/** Keys are made of our own ids only (`<org_id>/<file_id>`, the rule in layout.ts): never a client-chosen name, never `..`. */
export function assertValidKey(key: string): void {
  if (!isValidStorageKey(key)) throw new Error(`invalid storage key ${JSON.stringify(key)}`);
}

/** A multipart upload begun and never completed nor aborted (S3): a crash's parts, or an upload in progress. */
export interface PendingUpload {
  key: string;
  uploadId: string;
  /** When it began, ms since the epoch. */
  initiatedAt: number;
}
