// Streaming multipart/form-data reader for uploads: busboy over the request body, with backpressure, limits and one abort path.
import busboy from "busboy";
import type { Readable } from "node:stream";
import { ApiError, errors } from "../errors";

export interface FilePart {
  /** The part's filename as the client sent it (busboy already dropped directory parts). */
  filename: string | undefined;
  stream: Readable;
}

export interface UploadLimits {
  /** Most bytes the whole body may have (file plus fields and multipart framing); past it, `tooLarge()` is thrown. */
  maxBodyBytes: number;
  tooLarge(): Error;
  /** Most fields besides the file, and most bytes each. */
  maxFields: number;
  maxFieldBytes: number;
  /** Longest wait for the client's next bytes; past it, `idle()` is thrown (a stalled client must not hold the upload open). */
  idleTimeoutMs: number;
  idle(): Error;
}

export interface ReadUploadOptions<T> {
  /** Field names accepted besides `file`. */
  fields: readonly string[];
  limits: UploadLimits;
  /**
   * Called as soon as a text field arrives; may throw or reject to refuse the upload early (e.g. an unknown folder).
   * A returned promise runs while the body streams on, and the upload ends only once it has settled.
   */
  onField?(name: string, value: string): void | Promise<void>;
  /**
   * Consumes the file part. It must read `part.stream` to the end (or throw). When the upload fails
   * elsewhere, `signal` aborts and the stream errors; the consumer cleans up and rethrows.
   */
  onFile(part: FilePart, signal: AbortSignal): Promise<T>;
}

export const FILE_FIELD = "file";

/**
 * `p`, or a rejection with the abort reason as soon as `signal` aborts. The listener is removed when
 * `p` settles: racing every chunk against one long-lived promise (Promise.race) would keep a reaction,
 * and with it the chunk, per read until the upload ends, holding the whole file in memory.
 */
function untilAborted<V>(p: Promise<V>, signal: AbortSignal): Promise<V> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<V>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (err) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

const malformed = (what: string) =>
  errors.validation(
    [{ field: "body", message: `is not a complete multipart/form-data body (${what}).` }],
    `The multipart body is malformed or truncated: ${what}.`,
  );

/**
 * Reads a multipart/form-data body from a web stream, feeding the single `file` part to `onFile`
 * as it arrives (never buffered whole). Resolves once the body is complete and `onFile` is done;
 * otherwise rejects with the first problem (400/404/408/413 ApiError, or the client's disconnect) after
 * `onFile` has settled, so whatever it wrote is cleaned up before the caller answers.
 */
export async function readUpload<T>(
  body: ReadableStream<Uint8Array> | null,
  contentType: string,
  opts: ReadUploadOptions<T>,
): Promise<{ fields: Record<string, string>; file: T }> {
  let bb: busboy.Busboy;
  try {
    bb = busboy({
      headers: { "content-type": contentType },
      defParamCharset: "utf8",
      limits: { fields: opts.limits.maxFields, fieldSize: opts.limits.maxFieldBytes, parts: opts.limits.maxFields + 2, headerPairs: 20 },
    });
  } catch {
    throw errors.validation(
      [{ field: "content-type", message: "must be multipart/form-data with a boundary." }],
      "The Content-Type header has no multipart boundary.",
    );
  }

  const abort = new AbortController();
  const fail = (err: unknown) => {
    if (!abort.signal.aborted) abort.abort(err);
  };
  const until = <V>(p: Promise<V>) => untilAborted(p, abort.signal);

  const fields: Record<string, string> = {};
  let filePromise: Promise<T> | null = null;
  /** The field checks still running; each failure aborts the upload at once. */
  const checks: Promise<void>[] = [];

  // Field names come from the client and are echoed in errors: keep them short.
  const label = (name: string | undefined) => (name === undefined ? "(unnamed part)" : name.length > 64 ? `${name.slice(0, 64)}…` : name);

  bb.on("file", (name, stream, info) => {
    // The consumer may not be reading yet when the body fails; its iterator still sees the stored error.
    stream.on("error", () => {});
    if (name !== FILE_FIELD) {
      stream.resume();
      return fail(errors.validation([{ field: label(name), message: "is not a known field; send the file as `file`." }]));
    }
    if (filePromise) {
      stream.resume();
      return fail(errors.validation([{ field: FILE_FIELD, message: "must be sent once; upload one file per request." }]));
    }
    filePromise = opts.onFile({ filename: info.filename, stream }, abort.signal);
    filePromise.catch(fail);
  });
  bb.on("field", (name, value, info) => {
    if (name === FILE_FIELD) return fail(errors.validation([{ field: FILE_FIELD, message: 'must be a file part (curl -F "file=@path").' }]));
    if (!opts.fields.includes(name)) return fail(errors.validation([{ field: label(name), message: "is not a known field." }]));
    if (name in fields) return fail(errors.validation([{ field: name, message: "must be sent once." }]));
    if (info.valueTruncated) return fail(errors.validation([{ field: name, message: `must be at most ${opts.limits.maxFieldBytes} bytes.` }]));
    fields[name] = value;
    try {
      const check = opts.onField?.(name, value);
      if (check) checks.push(check.catch(fail));
    } catch (err) {
      fail(err);
    }
  });
  const tooMany = () => fail(errors.validation([{ field: "body", message: "has too many parts." }]));
  bb.on("partsLimit", tooMany);
  bb.on("fieldsLimit", tooMany);
  bb.on("error", (err) =>
    fail(
      err instanceof ApiError
        ? err
        : malformed(
            String((err as Error)?.message ?? err)
              .replace(/\.$/, "")
              .toLowerCase(),
          ),
    ),
  );
  const parsed = new Promise<void>((resolve) => bb.on("close", () => resolve()));

  const reader = body?.getReader();
  // Armed only while waiting for the client: time spent writing to disk (busboy holding a chunk) is ours, not idleness.
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  try {
    let total = 0;
    for (;;) {
      if (!reader) break;
      idleTimer = setTimeout(() => fail(opts.limits.idle()), opts.limits.idleTimeoutMs);
      const { done, value } = await until(reader.read());
      clearTimeout(idleTimer);
      if (done) break;
      total += value.byteLength;
      if (total > opts.limits.maxBodyBytes) throw opts.limits.tooLarge();
      // Wait until busboy has taken the chunk: it holds the callback while the file consumer is behind.
      await until(new Promise<void>((resolve, reject) => bb.write(value, (err) => (err ? reject(err) : resolve()))));
    }
    bb.end();
    await until(parsed);
    // A field's check decides before the missing-file error, as it would have had it answered at once.
    if (checks.length) await until(Promise.all(checks));
    if (!filePromise) throw errors.validation([{ field: FILE_FIELD, message: 'is required (curl -F "file=@path").' }]);
    const file = await until(filePromise as Promise<T>);
    if (abort.signal.aborted) throw abort.signal.reason;
    return { fields, file };
  } catch (err) {
    fail(err);
    const reason = abort.signal.reason;
    // Stop reading and parsing; the file consumer sees its stream fail and removes what it wrote.
    reader?.cancel().catch(() => {});
    bb.destroy(reason instanceof Error ? reason : undefined);
    if (filePromise) await (filePromise as Promise<T>).catch(() => {});
    throw reason;
  } finally {
    clearTimeout(idleTimer);
  }
}
