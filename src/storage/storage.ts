// The storage interface (put a stream, open a range, stat, delete): all that services see of where bytes live, so an S3 driver can replace the filesystem one.
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

export interface Storage {
  /**
   * Streams `source` to `key`, all or nothing: when the promise resolves the bytes are durable and
   * visible at `key`; when it rejects (the source threw, the disk filled) nothing is at `key` and no
   * temporary data is left. An existing object at `key` is replaced.
   */
  put(key: string, source: ByteSource): Promise<ObjectStat>;
  /**
   * The object's bytes (or one range of them) as a lazily read Blob: nothing is read until the
   * Blob is streamed, so a Response can send it without buffering. Rejects with NotFoundInStorage.
   */
  open(key: string, range?: ByteRange): Promise<Blob>;
  /** Size and modification time, or null when nothing is stored at `key`. */
  stat(key: string): Promise<ObjectStat | null>;
  /** Removes the object; removing a missing key is not an error. */
  delete(key: string): Promise<void>;
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
