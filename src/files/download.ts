// Serving stored bytes over HTTP: safe headers, conditional requests (ETag, Last-Modified), single ranges; streamed, never buffered, from disk or S3.
import { ApiError } from "../errors";
import { NotFoundInStorage, type ByteRange, type Storage } from "../storage/storage";
import { contentDisposition } from "./filename";
import { isInlineSafe } from "./mime";
import type { FileRow } from "./store";

export type RangeRequest = { kind: "none" } | { kind: "range"; start: number; end: number } | { kind: "unsatisfiable" };

/**
 * One `Range: bytes=…` against a resource of `size` bytes (RFC 9110 §14). Anything we do not serve
 * as a single range (no header, other units, several ranges, bad syntax) is "none": the whole body.
 */
export function parseRange(header: string | null, size: number): RangeRequest {
  if (!header) return { kind: "none" };
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m || (m[1] === "" && m[2] === "")) return { kind: "none" };
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return { kind: "unsatisfiable" };
    return { kind: "range", start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  if (m[2] !== "" && Number(m[2]) < start) return { kind: "none" };
  if (start >= size) return { kind: "unsatisfiable" };
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  return { kind: "range", start, end };
}

function opaqueTag(tag: string): string {
  return tag.trim().replace(/^W\//, "");
}

/** If-None-Match uses the weak comparison: `W/"x"` matches `"x"`; `*` matches anything. */
function noneMatch(header: string, etag: string): boolean {
  return header.split(",").some((t) => t.trim() === "*" || opaqueTag(t) === etag);
}

function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

/** Seconds resolution, as HTTP dates have. */
function notModifiedSince(header: string, uploadedAt: number): boolean {
  const since = Date.parse(header);
  return Number.isFinite(since) && Math.floor(uploadedAt / 1000) * 1000 <= since;
}

/** If-Range: the range applies only if the validator still matches (strong ETag comparison, or the exact date). */
function ifRangeHolds(header: string | null, etag: string, lastModified: string): boolean {
  if (header === null) return true;
  const v = header.trim();
  if (v.startsWith('"') || v.startsWith("W/")) return v === etag;
  return v === lastModified;
}

/**
 * The row exists but its bytes do not (deleted or lost outside the server, a restore without files/): a clear
 * 500 in the error shape rather than a bare one. The app's error handler logs it once per request at error
 * level, with the cause naming the file, its organization and the path; `clientcove verify` lists every such file.
 */
export function contentMissing(row: FileRow, cause: unknown, where = `files/${row.storage_key}`): ApiError {
  const detail = new Error(`stored content of ${row.id} (org ${row.org_id}) is missing at ${where}`, { cause });
  detail.name = "FileContentMissing";
  return new ApiError(
    500,
    "file_content_missing",
    `The stored content of ${row.id} is missing; an administrator can run \`clientcove verify\`.`,
    undefined,
    undefined,
    detail,
  );
}

async function openContent(storage: Storage, row: FileRow, range?: ByteRange): Promise<Blob> {
  try {
    return await storage.open(row.storage_key, range);
  } catch (err) {
    if (err instanceof NotFoundInStorage) throw contentMissing(row, err, storage.locate(row.storage_key));
    throw err;
  }
}

const ZEROS = new Uint8Array(64 * 1024);

/**
 * `length` bytes of nothing, as a body only counted, never sent: Elysia answers a HEAD by running the GET handler and
 * reading its whole body to set Content-Length, so a HEAD of an S3 object costs no GET of it this way.
 */
function countedOnly(length: number): ReadableStream<Uint8Array> {
  let left = length;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (left <= 0) return controller.close();
      const n = Math.min(left, ZEROS.byteLength);
      controller.enqueue(n === ZEROS.byteLength ? ZEROS : ZEROS.subarray(0, n));
      left -= n;
    },
  });
}

/**
 * A Blob Bun sends itself goes as it is (a file on disk: sendfile, with its Content-Length). An S3-backed Blob (it has
 * `presign`) goes as a stream of its bytes: Bun answers a Response whose body is one with a 302 to a presigned URL of the
 * whole object, range or not. Bun 1.4 drops a Content-Length set beside a stream body (oven-sh/bun#10507) and sends it
 * chunked; the header is set anyway, for when Bun keeps it. HEAD: see countedOnly.
 */
function respond(blob: Blob, length: number, status: number, headers: Record<string, string>, method: string | undefined): Response {
  if (typeof (blob as { presign?: unknown }).presign !== "function") return new Response(blob, { status, headers });
  const withLength = { ...headers, "content-length": String(length) };
  return new Response(method === "HEAD" ? countedOnly(length) : blob.stream(), { status, headers: withLength });
}

/**
 * The response for a download of `row`: 200, 206, 304 or a 416 ApiError. Every answer carries
 * `X-Content-Type-Options: nosniff` and `Content-Security-Policy: sandbox`, and only types in the
 * inline allow-list are `inline`, so an uploaded HTML or SVG file never runs as a page of our origin.
 */
export async function serveDownload(
  storage: Storage,
  row: FileRow,
  request: { headers: Headers; method?: string },
  opts: { cacheControl: string },
): Promise<Response> {
  const etag = `"${row.sha256}"`;
  const lastModified = httpDate(row.uploaded_at);
  const common: Record<string, string> = {
    etag,
    "last-modified": lastModified,
    "cache-control": opts.cacheControl,
    "x-content-type-options": "nosniff",
    "content-security-policy": "sandbox",
    "referrer-policy": "no-referrer",
  };
  const h = request.headers;
  const inm = h.get("if-none-match");
  const ims = h.get("if-modified-since");
  if (inm !== null ? noneMatch(inm, etag) : ims !== null && notModifiedSince(ims, row.uploaded_at)) {
    return new Response(null, { status: 304, headers: common });
  }

  const headers: Record<string, string> = {
    ...common,
    "content-type": row.mime_type,
    "content-disposition": contentDisposition(isInlineSafe(row.mime_type) ? "inline" : "attachment", row.filename),
    "accept-ranges": "bytes",
  };
  const range = ifRangeHolds(h.get("if-range"), etag, lastModified) ? parseRange(h.get("range"), row.size_bytes) : { kind: "none" as const };
  if (range.kind === "unsatisfiable") {
    throw new ApiError(416, "range_not_satisfiable", `The requested range is outside the file (${row.size_bytes} bytes).`, undefined, {
      "content-range": `bytes */${row.size_bytes}`,
      ...common,
    });
  }
  if (range.kind === "range") {
    const body = await openContent(storage, row, range);
    headers["content-range"] = `bytes ${range.start}-${range.end}/${row.size_bytes}`;
    return respond(body, range.end - range.start + 1, 206, headers, request.method);
  }
  return respond(await openContent(storage, row), row.size_bytes, 200, headers, request.method);
}
