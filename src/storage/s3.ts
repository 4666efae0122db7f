// The S3-compatible storage driver: objects at `<prefix>/<key>` in one bucket; uploads stream as multipart uploads that are aborted on any failure.
import { S3Client } from "bun";
import type { S3Location } from "./s3-url";
import { canonicalPath, canonicalQuery, sha256Hex, signedHeaders, uriEncode } from "./sigv4";
import {
  assertValidKey,
  NotFoundInStorage,
  type ByteRange,
  type ByteSource,
  type ListedObject,
  type ObjectRead,
  type ObjectStat,
  type PendingUpload,
  type Storage,
} from "./storage";

export { parseStorageUrl, type S3Location } from "./s3-url";

const MiB = 1024 * 1024;
/** S3's limits for a multipart upload: parts of 5 MiB to 5 GiB (the last may be smaller), at most 10,000 of them. */
const MIN_PART_BYTES = 5 * MiB;
const MAX_PART_BYTES = 5 * 1024 * MiB;
const MAX_PARTS = 10_000;
/**
 * The smallest part S3 allows, so an upload holds the least: (queueSize + 1) × partSize of buffers, 15 MiB by default.
 * Measured for 1 GiB against a local Swift: 5 MiB parts +32–34 MiB RSS at ~80 MiB/s, 8 MiB parts +41–50 MiB at ~110–140 MiB/s.
 */
export const DEFAULT_PART_BYTES = MIN_PART_BYTES;
/** Parts uploading at once. */
export const DEFAULT_QUEUE_SIZE = 2;
const ATTEMPTS = 3;

export interface S3StorageOptions extends S3Location {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** Bytes per part of a multipart upload (5 MiB to 5 GiB; default 5 MiB, so at most 50,000 MiB per object). */
  partSize?: number;
  /** Parts in flight at once per upload (default 2). */
  queueSize?: number;
  /** Longest wait for one S3 request of ours (a part, the completion); default 5 minutes. */
  requestTimeoutMs?: number;
}

export type { ListedObject, PendingUpload } from "./storage";

/** A multipart upload begun and never completed nor aborted (a crash mid-upload leaves one). */

/** The S3 driver: the Storage interface plus what verify, the start-up sweep and /readyz need of a bucket. */
export interface S3Storage extends Storage {
  readonly kind: "s3";
  /** `s3://bucket/prefix` (no credentials), for messages. */
  readonly description: string;
  /** Every object under the prefix (optionally under `sub`, e.g. `org_x/`), in key order, paged as S3 lists them. */
  list(sub?: string): AsyncIterable<ListedObject>;
  /** Multipart uploads under the prefix that were begun and never finished. */
  pendingUploads(): Promise<PendingUpload[]>;
  /** Aborts the pending uploads begun before `before` (ms since the epoch); returns how many. Later ones may still be running. */
  abortUploadsBefore(before: number): Promise<number>;
  /** A cheap authenticated request to the bucket (list one key): true when it answers, false otherwise; never throws. */
  check(timeoutMs?: number): Promise<boolean>;
  /** The same request: null when the bucket answers, else one line saying what failed (no credentials in it); never throws. */
  probe(timeoutMs?: number): Promise<string | null>;
}

class S3RequestError extends Error {
  override name = "S3RequestError";
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
  ) {
    super(message);
  }
}

function xmlText(xml: string, tag: string): string[] {
  return [...xml.matchAll(new RegExp(`<${tag}>([^<]*)</${tag}>`, "g"))].map((m) =>
    m[1]!
      .replace(/&quot;/g, '"')
      .replace(/&apos;/g, "'")
      .replace(/&lt;/g, "<")
      .replace(/&gt;/g, ">")
      .replace(/&amp;/g, "&"),
  );
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Network failures, throttling and server errors are worth another attempt; a refusal (4xx) is not. */
function isTransient(err: unknown): boolean {
  if (err instanceof S3RequestError) return err.status >= 500 || err.status === 429;
  return (err as { name?: string })?.name !== "AbortError" && (err as { name?: string })?.name !== "TimeoutError";
}

/** A buffer as a stream of 256 KiB views of it, read on demand. */
function slices(bytes: Uint8Array): ReadableStream<Uint8Array> {
  const STEP = 256 * 1024;
  let offset = 0;
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (offset >= bytes.byteLength) return controller.close();
        controller.enqueue(bytes.subarray(offset, offset + STEP));
        offset += STEP;
      },
    },
    { highWaterMark: 0 },
  );
}

function chunksOf(source: ByteSource): AsyncIterator<Uint8Array> {
  return (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
}

/**
 * Objects go to `<prefix>/<key>` (keys are our own ids, the layout.ts rule). Requests are signed here (Signature
 * Version 4) and sent with fetch, except reads: `open` hands out Bun's S3File, the one lazily read Blob over S3.
 * Bun's S3Client cannot do uploads all or nothing: its writer's `end(error)` completes the object with the bytes so far,
 * and `write(key, stream)` aborts a failed multipart upload only after rejecting, without a way to wait for the abort.
 */
export function createS3Storage(opts: S3StorageOptions): S3Storage {
  const partSize = opts.partSize ?? DEFAULT_PART_BYTES;
  const queueSize = opts.queueSize ?? DEFAULT_QUEUE_SIZE;
  const timeoutMs = opts.requestTimeoutMs ?? 5 * 60_000;
  if (!Number.isInteger(partSize) || partSize < MIN_PART_BYTES || partSize > MAX_PART_BYTES) throw new Error("partSize must be 5 MiB to 5 GiB");
  if (!Number.isInteger(queueSize) || queueSize < 1 || queueSize > 16) throw new Error("queueSize must be 1 to 16");
  const prefix = opts.prefix.replace(/^\/+|\/+$/g, "");
  const keyPrefix = prefix ? `${prefix}/` : "";
  const endpoint = new URL(opts.endpoint ?? `https://s3.${opts.region}.amazonaws.com`);
  // Path style: <endpoint>/<bucket>/<key>; virtual-hosted: <bucket>.<endpoint host>/<key>.
  const host = opts.pathStyle ? endpoint.host : `${opts.bucket}.${endpoint.host}`;
  const origin = `${endpoint.protocol}//${host}`;
  const pathBase = opts.pathStyle ? `/${uriEncode(opts.bucket)}` : "";
  // Bun's client takes what it is not given from S3_* / AWS_* variables, and it sends a session token from there even
  // when given an empty one: refused here, rather than reads failing with keys that do not go with that token.
  const envToken = ["S3_SESSION_TOKEN", "AWS_SESSION_TOKEN"].find((name) => process.env[name]);
  if (!opts.sessionToken && envToken)
    throw new Error(`${envToken} is set but the S3 credentials given have no session token; unset it, or pass the token with the credentials`);
  const credentials = { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey, sessionToken: opts.sessionToken };
  const reader = new S3Client({
    bucket: opts.bucket,
    region: opts.region,
    accessKeyId: opts.accessKeyId,
    secretAccessKey: opts.secretAccessKey,
    ...(opts.sessionToken ? { sessionToken: opts.sessionToken } : {}),
    endpoint: opts.pathStyle ? endpoint.origin : origin,
    virtualHostedStyle: !opts.pathStyle,
    retry: ATTEMPTS - 1,
  });

  const objectKey = (key: string) => {
    assertValidKey(key);
    return `${keyPrefix}${key}`;
  };
  /** Bun's lazily read Blob of the object at `key`. */
  const s3File = (key: string) => reader.file(objectKey(key));

  /** One signed request; S3's error answers become S3RequestError (code from the XML body). */
  async function request(
    method: string,
    objectPath: string | null,
    query: Record<string, string>,
    body?: Uint8Array | string,
    signal?: AbortSignal,
  ): Promise<{ status: number; headers: Headers; text: string }> {
    const path = `${pathBase}/${objectPath === null ? "" : canonicalPath(objectPath)}`;
    const query_ = canonicalQuery(query);
    const payloadHash = sha256Hex(body ?? "");
    const sent = signedHeaders({ method, host, path, query: query_, payloadHash, region: opts.region, ...credentials });
    const timeout = AbortSignal.timeout(timeoutMs);
    // Bytes go as a stream with their length: Bun sends it as Content-Length and copies nothing, where a Uint8Array
    // body is copied per request (a part's worth of garbage each time, freed only when the GC gets to it).
    const payload = typeof body === "string" || body === undefined ? body : slices(body);
    if (payload instanceof ReadableStream) sent["content-length"] = String((body as Uint8Array).byteLength);
    const res = await fetch(`${origin}${path}${query_ ? `?${query_}` : ""}`, {
      method,
      body: payload,
      headers: sent,
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    const text = await res.text();
    // CompleteMultipartUpload may answer 200 and still fail, with an <Error> document as the body.
    if (!res.ok || text.includes("<Error>")) {
      const code = xmlText(text, "Code")[0] ?? `HTTP ${res.status}`;
      const message = xmlText(text, "Message")[0] ?? res.statusText;
      throw new S3RequestError(`S3 ${method} ${code}: ${message}`, res.ok ? 500 : res.status, code);
    }
    return { status: res.status, headers: res.headers, text };
  }

  async function attempt<T>(fn: () => Promise<T>): Promise<T> {
    for (let i = 1; ; i++) {
      try {
        return await fn();
      } catch (err) {
        if (i >= ATTEMPTS || !isTransient(err)) throw err;
        await Bun.sleep(200 * i);
      }
    }
  }

  async function abortUpload(path: string, uploadId: string): Promise<void> {
    try {
      await attempt(() => request("DELETE", path, { uploadId }));
    } catch (err) {
      // Already gone is what we wanted.
      if (!(err instanceof S3RequestError && err.code === "NoSuchUpload")) throw err;
    }
  }

  /** Streams the source as a multipart upload (a single PUT when it fits in one part), all or nothing. */
  async function put(key: string, source: ByteSource): Promise<ObjectStat> {
    const path = objectKey(key);
    const chunks = chunksOf(source);
    const free: Uint8Array[] = [];
    const take = () => free.pop() ?? new Uint8Array(partSize);
    let part = take();
    let filled = 0;
    let size = 0;
    let uploadId: string | null = null;
    const etags: string[] = [];
    const inFlight = new Set<Promise<void>>();
    // Set by the first part that fails (the tasks themselves never reject).
    const failed: { error?: unknown } = {};
    let sourceDone = false;

    const send = async (bytes: Uint8Array, length: number) => {
      if (uploadId === null) {
        const created = await attempt(() => request("POST", path, { uploads: "" }));
        uploadId = xmlText(created.text, "UploadId")[0] ?? null;
        if (!uploadId) throw new Error("S3 CreateMultipartUpload answered without an UploadId");
      }
      const partNumber = etags.length + 1;
      if (partNumber > MAX_PARTS) throw new Error(`the upload needs more than ${MAX_PARTS} parts of ${partSize / MiB} MiB; raise the part size`);
      etags.push("");
      while (inFlight.size >= queueSize) await Promise.race(inFlight);
      if ("error" in failed) throw failed.error;
      const id = uploadId;
      const task: Promise<void> = (async () => {
        try {
          const res = await attempt(() => request("PUT", path, { partNumber: String(partNumber), uploadId: id }, bytes.subarray(0, length)));
          const etag = res.headers.get("etag");
          if (!etag) throw new Error(`S3 UploadPart ${partNumber} answered without an ETag`);
          etags[partNumber - 1] = etag;
          free.push(bytes);
          // A young-generation collection per part, and a full one every 4th (20 MiB), free the source's chunks already
          // copied into parts: without them the GC lets them pile up. Measured for 512 MiB in the driver alone: RSS growth
          // 52 MiB without, 28 MiB with the young one; for 1 GiB through the server (bench/upload-rss.ts --storage s3):
          // 63–67 MiB with the young one only, 34–36 MiB with the full one every 4th part (a few ms each).
          Bun.gc(partNumber % 4 === 0);
        } catch (err) {
          if (!("error" in failed)) failed.error = err;
        }
      })();
      inFlight.add(task);
      void task.then(() => inFlight.delete(task));
    };

    try {
      for (;;) {
        const next = await chunks.next();
        if ("error" in failed) throw failed.error;
        if (next.done) break;
        const chunk = next.value;
        let offset = 0;
        while (offset < chunk.byteLength) {
          // A full part is sent only once more bytes follow, so a source of exactly one part is one PUT.
          if (filled === partSize) {
            await send(part, filled);
            part = take();
            filled = 0;
          }
          const n = Math.min(chunk.byteLength - offset, partSize - filled);
          part.set(chunk.subarray(offset, offset + n), filled);
          filled += n;
          offset += n;
          size += n;
        }
      }
      sourceDone = true;
      if (uploadId === null) {
        await attempt(() => request("PUT", path, {}, part.subarray(0, filled)));
        return { size, modifiedAt: Date.now() };
      }
      await send(part, filled);
      await Promise.all(inFlight);
      if ("error" in failed) throw failed.error;
      const id: string = uploadId;
      const manifest = `<CompleteMultipartUpload>${etags.map((etag, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${xmlEscape(etag)}</ETag></Part>`).join("")}</CompleteMultipartUpload>`;
      await attempt(() => request("POST", path, { uploadId: id }, manifest));
      return { size, modifiedAt: Date.now() };
    } catch (err) {
      if (!sourceDone) await chunks.return?.().catch(() => {});
      await Promise.allSettled(inFlight);
      // The original failure is what the caller needs; an abort that fails too leaves a pending upload for abortUploadsBefore.
      if (uploadId !== null) await abortUpload(path, uploadId).catch(() => {});
      throw err;
    }
  }

  async function statOf(key: string): Promise<ObjectStat | null> {
    const path = objectKey(key);
    try {
      const { headers } = await attempt(() => request("HEAD", path, {}));
      const modified = Date.parse(headers.get("last-modified") ?? "");
      return { size: Number(headers.get("content-length") ?? 0), modifiedAt: Number.isFinite(modified) ? modified : 0 };
    } catch (err) {
      if (err instanceof S3RequestError && err.status === 404) return null;
      throw err;
    }
  }

  async function pendingUploads(): Promise<PendingUpload[]> {
    const out: PendingUpload[] = [];
    let keyMarker = "";
    let uploadIdMarker = "";
    for (;;) {
      const query: Record<string, string> = { uploads: "", prefix: keyPrefix };
      if (keyMarker) Object.assign(query, { "key-marker": keyMarker, "upload-id-marker": uploadIdMarker });
      const { text } = await attempt(() => request("GET", null, query));
      for (const upload of text.match(/<Upload>[\s\S]*?<\/Upload>/g) ?? []) {
        const key = xmlText(upload, "Key")[0] ?? "";
        out.push({
          key: key.slice(keyPrefix.length),
          uploadId: xmlText(upload, "UploadId")[0] ?? "",
          initiatedAt: Date.parse(xmlText(upload, "Initiated")[0] ?? ""),
        });
      }
      if (xmlText(text, "IsTruncated")[0] !== "true") return out;
      keyMarker = xmlText(text, "NextKeyMarker")[0] ?? "";
      uploadIdMarker = xmlText(text, "NextUploadIdMarker")[0] ?? "";
      if (!keyMarker) return out;
    }
  }

  async function probe(ms = 2000): Promise<string | null> {
    try {
      await request("GET", null, { "list-type": "2", "max-keys": "1", prefix: keyPrefix }, undefined, AbortSignal.timeout(ms));
      return null;
    } catch (err) {
      const e = err as { name?: string; code?: string; message?: string };
      if (e.name === "TimeoutError" || e.name === "AbortError") return `no answer within ${ms / 1000} s`;
      if (err instanceof S3RequestError) return err.message;
      return `${(e.message ?? String(err)).replace(/\s+/g, " ").trim()}${e.code ? ` (${e.code})` : ""}`;
    }
  }

  return {
    kind: "s3",
    description: `s3://${opts.bucket}${prefix ? `/${prefix}` : ""}`,
    put,

    async open(key: string, range?: ByteRange): Promise<Blob> {
      if (!(await statOf(key))) throw new NotFoundInStorage(key);
      // Nothing is fetched until the Blob is read; a range is one ranged GET. Send it as `blob.stream()`: a Response
      // whose body is an S3File is answered by Bun with a 302 to a presigned URL instead of the bytes.
      const file = s3File(key);
      return range ? file.slice(range.start, range.end + 1) : file;
    },

    stat: statOf,

    async read(key: string): Promise<ObjectRead | null> {
      const stat = await statOf(key);
      if (!stat) return null;
      // The GET starts with the first read, taken here: a key deleted since the HEAD is null, like one never stored.
      const source = s3File(key).stream().getReader();
      let first: Awaited<ReturnType<typeof source.read>>;
      try {
        first = await source.read();
      } catch (err) {
        source.releaseLock();
        if (!(await statOf(key))) return null;
        throw err;
      }
      async function* body(): AsyncGenerator<Uint8Array> {
        try {
          if (first.done) return;
          yield first.value;
          for (;;) {
            const next = await source.read();
            if (next.done) return;
            yield next.value;
          }
        } finally {
          await source.cancel().catch(() => {});
        }
      }
      return { size: stat.size, body: body() };
    },

    locate: (key) => `s3://${opts.bucket}/${keyPrefix}${key}`,

    async delete(key: string): Promise<void> {
      const path = objectKey(key);
      try {
        await attempt(() => request("DELETE", path, {}));
      } catch (err) {
        if (!(err instanceof S3RequestError && err.status === 404)) throw err;
      }
    },

    async *list(sub = ""): AsyncIterable<ListedObject> {
      let token = "";
      for (;;) {
        const query: Record<string, string> = { "list-type": "2", prefix: `${keyPrefix}${sub}` };
        if (token) query["continuation-token"] = token;
        const { text } = await attempt(() => request("GET", null, query));
        for (const entry of text.match(/<Contents>[\s\S]*?<\/Contents>/g) ?? []) {
          const modified = Date.parse(xmlText(entry, "LastModified")[0] ?? "");
          yield {
            key: (xmlText(entry, "Key")[0] ?? "").slice(keyPrefix.length),
            size: Number(xmlText(entry, "Size")[0] ?? 0),
            modifiedAt: Number.isFinite(modified) ? modified : 0,
          };
        }
        token = xmlText(text, "IsTruncated")[0] === "true" ? (xmlText(text, "NextContinuationToken")[0] ?? "") : "";
        if (!token) return;
      }
    },

    pendingUploads,

    async abortUploadsBefore(before: number): Promise<number> {
      let aborted = 0;
      for (const u of await pendingUploads()) {
        if (!(u.initiatedAt < before)) continue;
        await abortUpload(`${keyPrefix}${u.key}`, u.uploadId);
        aborted++;
      }
      return aborted;
    },

    check: async (ms = 2000) => (await probe(ms)) === null,

    probe,
  };
}

/** For /readyz: true when the storage answers (always true for storage that is not S3). Never throws. */
export async function checkS3(storage: Storage, timeoutMs = 2000): Promise<boolean> {
  const s3 = storage as Partial<S3Storage>;
  if (s3.kind !== "s3" || typeof s3.check !== "function") return true;
  return s3.check(timeoutMs).catch(() => false);
}
